"""Streaming pretraining has no length: the schedule needs trainer.max_steps (else lr 0 throughout)."""

from __future__ import annotations

import csv

import pytest

from tunelab.errors import ConfigError
from tunelab.training import train

SENTENCES = [
    "the patient was treated for breast cancer with chemotherapy",
    "asthma attacks were reduced by inhaled steroids in children",
]


@pytest.fixture
def streaming_cfg(tiny_cfg, tmp_path):
    (tmp_path / "train.txt").write_text("\n".join(SENTENCES * 10) + "\n")
    (tmp_path / "valid.txt").write_text("\n".join(SENTENCES * 3) + "\n")

    def make(*extra: str):
        return tiny_cfg(
            "data=pubmed_text", "data.task=mlm", "data.streaming=true", f"paths.data_dir={tmp_path}", "data.files.train=train.txt",
            "data.files.validation=valid.txt", "data.block_size=32", "data.batch_size=8",
            f"data.cache_dir={tmp_path / 'cache'}", "optimized_mode=min", "optim.lr=3e-3", "optim.warmup_ratio=0.5",
            f"paths.output_dir={tmp_path / 'run'}", "trainer.max_epochs=1", *extra)

    return make


def test_streaming_without_max_steps_is_a_one_line_error(streaming_cfg):
    # Old behaviour: Lightning estimated -1 steps, the linear decay gave lr 0, the run "trained".
    with pytest.raises(ConfigError, match=r"^trainer\.max_steps: .*streaming data has no length"):
        train(streaming_cfg())


def test_streaming_with_max_steps_trains_at_a_positive_lr(streaming_cfg, tmp_path):
    # 2 batches per streamed epoch: the 4 steps span 2 epochs, each ending in a validation.
    train(streaming_cfg("trainer.max_steps=4", "trainer.max_epochs=3", "trainer.log_every_n_steps=1"))
    # LearningRateMonitor logs the lr of every step to the CSV logger.
    rows = list(csv.DictReader((tmp_path / "run" / "csv" / "metrics.csv").open()))
    lrs = [float(r["lr-AdamW/pg1"]) for r in rows if r.get("lr-AdamW/pg1")]
    assert len(lrs) >= 3 and all(lr > 0 for lr in lrs), lrs  # warmup (2 steps) and after
