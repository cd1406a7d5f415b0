"""Training learns, resume is exact, evaluate reproduces the test score, W&B writes offline."""

import csv
import json

import pytest

from tests.helpers import assert_same_metrics, interrupted_and_uninterrupted, ner_overrides
from tunelab.evaluation import evaluate
from tunelab.training import train


def test_tiny_model_learns_synthetic_ner(tiny_cfg, tmp_path, synthetic):
    cfg = tiny_cfg(*ner_overrides(synthetic), "trainer.max_epochs=6")
    metrics = train(cfg)
    assert metrics["test/f1"] > 0.9, metrics
    with open(tmp_path / "csv" / "metrics.csv") as f:
        val_loss = [float(r["val/loss"]) for r in csv.DictReader(f) if r.get("val/loss")]
    assert len(val_loss) >= 6 and val_loss[-1] < 0.5 * val_loss[0], val_loss  # the loss falls
    best = sorted((tmp_path / "checkpoints").glob("epoch*.ckpt"))
    assert len(best) == 1 and (tmp_path / "checkpoints" / "last.ckpt").is_file()
    report = json.loads((tmp_path / "test_report.json").read_text())
    assert report["Disease"]["support"] > 0


def test_resumed_run_equals_uninterrupted(tiny_cfg, tmp_path, synthetic):
    common = [*ner_overrides(synthetic), "trainer.max_epochs=3", "seed=5"]
    full, resumed = interrupted_and_uninterrupted(tiny_cfg, common, tmp_path)
    assert_same_metrics(full, resumed)
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    # The throughput history survives the resume: every epoch is reported once.
    epochs = [[row["epoch"] for row in json.loads((d / "run_info.json").read_text())["throughput"]] for d in (full_dir, cut_dir)]
    assert epochs == [[0, 1, 2], [0, 1, 2]]


def test_evaluate_reproduces_test_metrics(tiny_cfg, tmp_path, synthetic):
    run = tmp_path / "run"
    metrics = train(tiny_cfg(*ner_overrides(synthetic), "trainer.max_epochs=2", f"paths.output_dir={run}"))
    ckpt = next((run / "checkpoints").glob("epoch*.ckpt"))
    for split, prefix in (("test", "test"), ("validation", "val")):
        cfg = tiny_cfg(*ner_overrides(synthetic), f"ckpt_path={ckpt}", f"split={split}",
                       f"paths.output_dir={tmp_path / split}", config_name="eval")
        got = evaluate(cfg)
        assert got[f"{split}/f1"] == pytest.approx(metrics[f"{prefix}/f1"], abs=1e-6)
        assert (tmp_path / split / f"{split}_report.txt").is_file()


def test_wandb_offline_run_files(tiny_cfg, tmp_path, synthetic):
    cfg = tiny_cfg(*ner_overrides(synthetic), "logger=wandb", "trainer.max_epochs=1")
    train(cfg)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("run-*.wandb")), "the offline run must hold its event file"


def test_resumed_run_continues_its_wandb_run(tiny_cfg, tmp_path, synthetic):
    common = [*ner_overrides(synthetic), "logger=wandb", "trainer.max_epochs=2"]
    first, second = tmp_path / "first", tmp_path / "second"
    train(tiny_cfg(*common, f"paths.output_dir={first}", "test=false",
                   "+callbacks.stop._target_=tests.helpers.StopAfterEpochs", "+callbacks.stop.epochs=1"))
    train(tiny_cfg(*common, f"paths.output_dir={second}", f"ckpt_path={first}/checkpoints/last.ckpt"))
    (run1,) = (first / "wandb").glob("offline-run-*")
    (run2,) = (second / "wandb").glob("offline-run-*")
    assert run1.name.rsplit("-", 1)[1] == run2.name.rsplit("-", 1)[1]  # offline-run-<time>-<id>
