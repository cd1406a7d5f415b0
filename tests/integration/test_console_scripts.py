"""The installed console scripts (tunelab-train, -evaluate, -export, -generate) work from any
directory with the packaged configs, and behave like ``python train.py`` (same one-line errors,
same run directory contents). A wheel built from the checkout ships conf/ as package data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import write_synthetic_ner

BIN = Path(sys.executable).parent
SCRIPTS = ("tunelab-train", "tunelab-evaluate", "tunelab-export", "tunelab-generate")


def run_script(name: str, cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    script = BIN / name
    assert script.is_file(), f"{script} is not installed: pip install -e '.[dev]'"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    return subprocess.run([str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_works_from_another_directory(tmp_path, name):
    proc = run_script(name, tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "== Configuration groups ==" in proc.stdout


def test_train_help_lists_the_packaged_experiments(tmp_path):
    proc = run_script("tunelab-train", tmp_path, "--help")
    experiments = next(line for line in proc.stdout.splitlines() if line.startswith("experiment:"))
    assert "full_ncbi" in experiments and "lora_medqa" in experiments


def test_unknown_experiment_is_the_same_one_line_error(tmp_path):
    proc = run_script("tunelab-train", tmp_path, "+experiment=full_nbci")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
    assert line.startswith("error: experiment=full_nbci: no such config in") and "full_ncbi" in line


def test_fast_dev_run_from_a_temp_directory(tmp_path):
    write_synthetic_ner(tmp_path / "data" / "ncbi_disease", n_train=20)
    # Relative paths resolve against the working directory, as with python train.py.
    proc = run_script("tunelab-train", tmp_path, "+experiment=full_ncbi", "model=tiny", "logger=csv", "debug=fdr",
                      "paths.data_dir=data", "hydra.run.dir=run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test/f1" in json.loads((tmp_path / "run" / "metrics.json").read_text())


def test_train_then_evaluate_from_a_temp_directory(tmp_path):
    data = tmp_path / "data"
    write_synthetic_ner(data / "ncbi_disease", n_train=20)
    common = ["+experiment=full_ncbi", "model=tiny", "logger=csv", f"paths.data_dir={data}",
              "callbacks.progress_bar=null", "trainer.enable_progress_bar=false"]
    run = tmp_path / "run"
    proc = run_script("tunelab-train", tmp_path, *common, "trainer.max_epochs=1",
                      f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test/f1" in json.loads((run / "metrics.json").read_text())
    assert (run / "train.log").is_file(), "the job is named like train.py's"
    # A user error inside the run is the same one line and exit 2 (run_or_exit).
    proc = run_script("tunelab-evaluate", tmp_path, *common, f"ckpt_path={tmp_path / 'nope.ckpt'}",
                      f"hydra.run.dir={tmp_path / 'eval_bad'}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert any(x.startswith("error: ckpt_path") for x in proc.stderr.splitlines()), proc.stderr[-2000:]
    ckpt = next((run / "checkpoints").glob("epoch*.ckpt"))
    proc = run_script("tunelab-evaluate", tmp_path, *common, f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / 'eval'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test/f1:" in proc.stdout


def test_wheel_ships_the_configs(tmp_path):
    # Built from a copy: an in-tree build would leave build/ and egg-info in the checkout.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".venv", ".ci-venv", "logs", "__pycache__", "*.egg-info", "build"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("tunelab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {p.relative_to(ROOT).as_posix() for p in (ROOT / "conf").rglob("*.yaml")}
    assert configs and {f"tunelab/{c}" for c in configs} <= names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    for name in SCRIPTS:
        assert f"{name} = tunelab.cli:" in entry_points
