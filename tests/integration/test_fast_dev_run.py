"""A one-batch run (debug=fdr) of every experiment on its real data with the tiny model."""

import json

import pytest

from tests.conftest import EXPERIMENTS, needs_shared
from tunelab.training import train

KEYS = {
    "token_classification": {"test/f1", "test/precision", "test/recall", "val/f1"},
    "sequence_classification": {"test/acc", "test/macro_f1", "val/acc", "val/macro_f1"},
    "multiple_choice": {"test/acc", "test/macro_f1", "val/acc", "val/macro_f1"},
    "mlm": {"test/perplexity", "val/perplexity", "val/loss"},
    "clm": {"test/perplexity", "val/perplexity", "val/loss"},
}


@needs_shared
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_fast_dev_run(name, tiny_cfg, tmp_path):
    cfg = tiny_cfg(f"+experiment={name}", "debug=fdr")
    if cfg.data.task in ("mlm", "clm"):  # a slice of the corpus, tokenization cached under tmp_path
        cfg = tiny_cfg(f"+experiment={name}", "debug=fdr", "data.limit_docs=100", f"data.cache_dir={tmp_path / 'cache'}")
    metrics = train(cfg)
    assert KEYS[cfg.data.task] <= set(metrics)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk == pytest.approx(metrics)
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["parameters"]["trainable"] > 0 and info["data"]["fingerprint"]
    assert info["config"]["data"]["name"] == cfg.data.name and info["git_commit"]
    if cfg.data.task in ("mlm", "clm"):
        assert (tmp_path / "hf_model" / "config.json").is_file()
        return
    assert (tmp_path / "test_report.txt").is_file()
    if cfg.data.split:
        assert info["data"]["split"]["seed"] == cfg.data.split.seed  # the made split is recorded
