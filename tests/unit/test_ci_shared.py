"""Under CI a test that needs the shared datasets fails instead of skipping (locally it skips).

The probe below is a real ``needs_shared`` test; the other tests run it in a pytest subprocess
with the data directory pointing at an empty folder, with and without ``CI=true``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SHARED, needs_shared, require_shared

PROBE = "tests/unit/test_ci_shared.py::test_needs_shared_probe"


@needs_shared
def test_needs_shared_probe():
    assert SHARED.is_dir()


def _pytest(tmp_path, ci: str | None, target: str = PROBE) -> subprocess.CompletedProcess:
    empty = tmp_path / "no_datasets"
    empty.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["TUNELAB_DATA_DIR"] = str(empty)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", target],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_needs_shared_fails_under_ci(tmp_path):
    proc = _pytest(tmp_path, "true")
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "CI=true: a test that needs the shared datasets must run, not skip" in proc.stdout
    assert "skipped" not in proc.stdout.splitlines()[-1]


def test_needs_shared_skips_without_ci(tmp_path):
    proc = _pytest(tmp_path, None)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "1 skipped" in proc.stdout.splitlines()[-1]
    assert "real datasets not found at" in proc.stdout


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("1", pytest.fail.Exception),
                                         ("", pytest.skip.Exception), ("false", pytest.skip.Exception)])
def test_require_shared_inside_a_test(monkeypatch, tmp_path, ci, outcome):
    """The in-test form (tests that need one dataset folder) follows the same rule."""
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="real datasets not found"):
        require_shared(f"no_such_dataset_{tmp_path.name}")
