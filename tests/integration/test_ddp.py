"""Two-process DDP on CPU (gloo) through the real CLI: same metrics as one process, each
evaluation example scored exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.helpers import ner_overrides, write_synthetic_ner
from tunelab.training import train


def _cli(script, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, script, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_ddp_evaluation_counts_each_example_once_and_matches_one_process(tiny_cfg, tmp_path):
    data = tmp_path / "data"
    write_synthetic_ner(data, n_train=80)
    # 40 test sentences in batches of 3: 14 batches, uneven across 2 ranks (7 + 7, last one short).
    common = [*ner_overrides(data), "model=tiny", "logger=csv", "data.eval_batch_size=3"]
    train(tiny_cfg(*common, "trainer.max_epochs=2", f"paths.output_dir={tmp_path / 'run'}"))
    ckpt = next((tmp_path / "run" / "checkpoints").glob("epoch*.ckpt"))
    results = {}
    for name, extra in (("one", ["trainer=cpu"]), ("ddp", ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"])):
        out = tmp_path / name
        _cli("evaluate.py", *common, *extra, f"ckpt_path={ckpt}", f"hydra.run.dir={out}", "callbacks.progress_bar=null",
             "trainer.enable_progress_bar=false")
        results[name] = (json.loads((out / "metrics.json").read_text()), json.loads((out / "test_report.json").read_text()))
    (one, one_report), (ddp, ddp_report) = results["one"], results["ddp"]
    gold = sum(t.count("B-Disease") for t in (data / "test.tsv").read_text().split("\n"))
    assert one_report["micro avg"]["support"] == gold
    assert ddp_report["micro avg"]["support"] == gold, "DDP scored some example twice or not at all"
    assert ddp["test/f1"] == pytest.approx(one["test/f1"], abs=1e-9)
    assert ddp["test/precision"] == pytest.approx(one["test/precision"], abs=1e-9)
    # Loss is a mean of per-rank means (sync_dist) vs one mean: equal up to batch weighting.
    assert ddp["test/loss"] == pytest.approx(one["test/loss"], rel=0.05)


@pytest.mark.slow
def test_ddp_training_runs_two_processes(tmp_path):
    data = tmp_path / "data"
    write_synthetic_ner(data, n_train=64)
    out = tmp_path / "run"
    _cli("train.py", "+experiment=full_ncbi", *ner_overrides(data), "model=tiny", "logger=csv", "trainer=ddp",
         "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=1", f"hydra.run.dir={out}",
         "callbacks.progress_bar=null", "trainer.enable_progress_bar=false")
    metrics = json.loads((out / "metrics.json").read_text())
    assert "test/f1" in metrics and (out / "checkpoints" / "last.ckpt").is_file()
