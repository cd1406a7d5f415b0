"""Two-process DDP on CPU (gloo) through the real CLI: same metrics as one process, each
evaluation example scored exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

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


POSITIVE = "profit rose growth record gain strong beat".split()
NEGATIVE = "loss fell decline weak miss cut drop".split()
FILLER_WORDS = "the company said its quarterly results in finland were for year".split()


def write_synthetic_fpb(folder, n: int = 800, seed: int = 0) -> None:
    """Financial PhraseBank format (`sentence@label`, latin-1): the label follows cue words."""
    import random

    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        label = rng.choice(["positive", "negative", "neutral"])
        words = [rng.choice(FILLER_WORDS) for _ in range(rng.randint(2, 5))]
        cues = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": FILLER_WORDS}[label]
        words.insert(rng.randrange(len(words)), rng.choice(cues))
        lines.append(f"{' '.join(words)}@{label}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Sentences_50Agree.txt").write_text("\n".join(lines) + "\n", encoding="latin-1")


def _weights(ckpt):
    return torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]


@pytest.fixture(scope="module")
def one_vs_ddp(tmp_path_factory):
    """One epoch on 2 gloo ranks x batch 8 and on one process x batch 16: (metrics, weights) each.

    Why they are comparable: SeededBatchSampler draws one global order from (seed, epoch) and
    rank r takes batches r, r+2, ... of size 8, so optimizer step k sees exactly the 16 examples
    that the 1-process batch k holds (group_by_length is off: its mega-batches scale with the
    per-rank batch size and would reorder). Sequence classification has one label per example,
    so the mean of the two ranks' mean losses (DDP averages gradients) is the mean over the 16.
    (Token classification averages over tokens per rank: ranks with more tokens are weighted
    less than in one process, so NER under DDP is close to, not equal to, one process.)
    Dropout is off: the ranks would draw other masks than the single process. 640 training
    examples = 40 full steps either way, enough for the tiny model to learn the cue words.
    """
    tmp_path = tmp_path_factory.mktemp("one_vs_ddp")
    data = tmp_path / "data"
    write_synthetic_fpb(data / "financial_phrasebank")  # 800 -> 640 / 81 / 79 (stratified)
    common = ["+experiment=full_fpb", "model=tiny", "logger=csv", f"paths.data_dir={data}", "trainer.max_epochs=1",
              "data.group_by_length=false", "optim.lr=5e-3", "optim.warmup_ratio=0.0",
              "+model.from_scratch.hidden_dropout_prob=0.0", "+model.from_scratch.attention_probs_dropout_prob=0.0",
              "callbacks.progress_bar=null", "trainer.enable_progress_bar=false"]
    runs = {"one": ["trainer=cpu", "data.batch_size=16"],
            "ddp": ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "data.batch_size=8"]}
    results = {}
    for name, extra in runs.items():
        out = tmp_path / name
        _cli("train.py", *common, *extra, f"hydra.run.dir={out}")
        results[name] = (json.loads((out / "metrics.json").read_text()), _weights(out / "checkpoints" / "last.ckpt"))
    return results


# Attention key biases get an exactly zero gradient (softmax ignores a shift shared by all keys),
# so Adam turns float rounding in them into steps of size ~lr: they differ, and do not matter.
ZERO_GRADIENT = ".attention.self.key.bias"


@pytest.mark.slow
def test_ddp_fine_tune_equals_one_process_at_the_same_global_batch(one_vs_ddp):
    """What is left between the runs is float32 summation order (all-reduce vs one batch).

    Weights: measured max |difference| 4.3e-6 after 40 Adam steps; the bound 2e-5 leaves 5x
    margin, while any real difference (a batch seen twice or dropped, another order, unequal
    weighting) moves weights by about the lr, 5e-3. Validation metrics are counted from the same
    predictions and came out equal; the bound allows one of the 81 examples to sit on a decision
    boundary and flip.
    """
    (one, w_one), (ddp, w_ddp) = one_vs_ddp["one"], one_vs_ddp["ddp"]
    assert w_one.keys() == w_ddp.keys()
    worst = max((w_one[k] - w_ddp[k]).abs().max().item() for k in w_one if not k.endswith(ZERO_GRADIENT))
    assert worst < 2e-5, f"DDP weights differ from the 1-process run by up to {worst:.2e}"
    assert one["val/acc"] > 0.6, one  # it learned (chance is 1/3): not two untrained models compared
    for key in ("val/acc", "val/macro_f1", "test/acc", "test/macro_f1"):
        assert ddp[key] == pytest.approx(one[key], abs=1 / 81 + 1e-9), key


@pytest.mark.slow
def test_ddp_validation_loss_is_the_mean_over_examples(one_vs_ddp):
    """Lightning 2.6's sync_dist mean truncated the int example count (81 / 2 -> 40), so the logged
    DDP loss was off by n/(n-1) when examples did not split evenly; the losses are MeanMetrics now."""
    (one, _), (ddp, _) = one_vs_ddp["one"], one_vs_ddp["ddp"]
    # The weights agree to 1e-5 (test above), so the per-example losses do: the means must too.
    assert ddp["val/loss"] == pytest.approx(one["val/loss"], rel=1e-4)
    assert ddp["test/loss"] == pytest.approx(one["test/loss"], rel=1e-4)


@pytest.mark.slow
def test_ddp_resumed_run_equals_uninterrupted(tmp_path):
    """2 gloo ranks, 2 epochs == 1 epoch, stop, resume for the 2nd: the same weights, bit for bit.

    Dropout is on and batches are padded per batch, so the ranks' CPU generators drift apart
    during the first epoch; a resume that gave every rank rank 0's states (the checkpoint is
    written by rank 0) drew other masks on rank 1.
    """
    data = tmp_path / "data"
    write_synthetic_ner(data, n_train=48)
    common = [*ner_overrides(data), "model=tiny", "logger=csv", "trainer=ddp", "trainer.accelerator=cpu",
              "trainer.devices=2", "trainer.max_epochs=2", "data.batch_size=8", "test=false",
              "callbacks.progress_bar=null", "trainer.enable_progress_bar=false"]
    _cli("train.py", *common, f"hydra.run.dir={tmp_path / 'full'}")
    cut = tmp_path / "cut"
    _cli("train.py", *common, f"hydra.run.dir={cut}",
         "+callbacks.stop._target_=tests.helpers.StopAfterEpochs", "+callbacks.stop.epochs=1")
    per_rank = torch.load(cut / "checkpoints" / "last.ckpt", weights_only=False)["tunelab_rng_states"]["per_rank"]
    assert len(per_rank) == 2 and not torch.equal(per_rank[0]["torch"], per_rank[1]["torch"]), "ranks did not drift"
    _cli("train.py", *common, f"hydra.run.dir={tmp_path / 'resumed'}", f"ckpt_path={cut / 'checkpoints' / 'last.ckpt'}")
    full, resumed = (_weights(tmp_path / d / "checkpoints" / "last.ckpt") for d in ("full", "resumed"))
    differ = [k for k in full if not torch.equal(full[k], resumed[k])]
    assert not differ, f"{len(differ)} tensors differ after a DDP resume, e.g. {differ[0]}"


def test_fsdp_on_cpu_is_a_one_line_error(tmp_path):
    # Lightning's FSDPStrategy refuses accelerator=cpu (and torch's FSDP1 needs an accelerator):
    # before, this was Lightning's ValueError inside Hydra's multi-line instantiate report, exit 1.
    data = tmp_path / "data"
    write_synthetic_ner(data, n_train=16)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, "train.py", "+experiment=full_ncbi", *ner_overrides(data), "model=tiny",
                           "logger=csv", "trainer=fsdp", "trainer.accelerator=cpu", "trainer.devices=2",
                           "trainer.precision=32-true", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
    assert line.startswith("error: trainer.accelerator: FSDP") and "trainer=ddp trainer.accelerator=cpu" in line
