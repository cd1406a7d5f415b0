"""A one-batch run (debug=fdr) of every experiment on its real data with the tiny model."""

import json

import pytest

from tests.conftest import EXPERIMENTS, needs_shared
from tunelab import tasks
from tunelab.training import train


@needs_shared
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_fast_dev_run(name, tiny_cfg, tmp_path):
    cfg = tiny_cfg(f"+experiment={name}", "debug=fdr")
    if cfg.get("cl") is not None:  # a task sequence: every task's data read, R filled (a few items each)
        cfg = tiny_cfg(f"+experiment={name}", "debug=fdr", "sequence.train_cap=16", "sequence.test_cap=8",
                       "trainer.max_epochs=1", f"paths.output_dir={tmp_path}")
        metrics = train(cfg)
        assert {"cl/acc", "cl/bwt", "cl/fwt", "cl/forgetting"} <= set(metrics), sorted(metrics)
        assert (tmp_path / "R.csv").is_file() and (tmp_path / "cl_metrics.json").is_file()
        return
    if cfg.get("rec") is not None:  # recommendation (tunelab.recommend); the reranker reads a text run's top-K
        extra = []
        if cfg.rec.name == "rerank":
            train(tiny_cfg("+experiment=rec_ml100k_text", "debug=fdr", f"paths.output_dir={tmp_path / 'text'}"))
            extra = [f"rec.candidates={tmp_path / 'text' / 'candidates.json'}"]
        metrics = train(tiny_cfg(f"+experiment={name}", "debug=fdr", *extra))
        assert {f"{s}/{m}" for s in ("val", "test") for m in ("hr_10", "ndcg_10", "mrr")} | {cfg.data.monitor} <= set(metrics)
        info = json.loads((tmp_path / "run_info.json").read_text())
        assert info["parameters"]["trainable"] > 0 and info["data"]["fingerprint"] and info["git_commit"]
        return
    task = tasks.get(cfg.data.task)
    if task.pretraining:  # a slice of the corpus, tokenization cached under tmp_path
        cfg = tiny_cfg(f"+experiment={name}", "debug=fdr", "data.limit_docs=100", f"data.cache_dir={tmp_path / 'cache'}")
    metrics = train(cfg)
    want = {f"{split}/{m}" for split in ("val", "test") for m in task.metric_names} | {cfg.data.monitor}
    assert want <= set(metrics), sorted(want - set(metrics))
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk == pytest.approx(metrics)
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["parameters"]["trainable"] > 0 and info["data"]["fingerprint"]
    assert info["config"]["data"]["name"] == cfg.data.name and info["git_commit"]
    if task.pretraining:
        assert (tmp_path / "hf_model" / "config.json").is_file()
        return
    assert (tmp_path / "test_report.txt").is_file()
    if cfg.data.split:
        assert info["data"]["split"]["seed"] == cfg.data.split.seed  # the made split is recorded
