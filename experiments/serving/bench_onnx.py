"""Benchmark: PyTorch fp32 vs ONNX Runtime fp32 vs ONNX Runtime dynamic int8, one model, one test set.

    TUNELAB_DATA_DIR=../shared/datasets OMP_NUM_THREADS=1 python experiments/serving/bench_onnx.py \\
        --model logs/train/runs/<full_ncbi run> --threads 1 --repeats 5
    (--model: a run directory, export.py's <out_dir>, or an exported model folder; --data ncbi_disease
     or banking77 when the model has no run beside it.)

In one process, on the same length-sorted padded batches of the whole split (the encoding and
batching evaluation uses), each repeat runs every backend over all batches, the order rotating per
repeat so drift in machine load hits each alike; throughput is texts/s of a whole pass, latency the
median time of one batch, both the median over repeats. A second pass at batch size 1 (the first
``--single`` texts) gives per-text latency. The task metric is the project's own (entity F1 on
word-level decisions for NER, accuracy and macro-F1 for classification), computed on each backend's
logits; "agrees" is the share of decisions (words / texts) equal to PyTorch fp32's. Writes a markdown
table (``--out``, default ``bench_onnx_<data>.md`` beside this file) headed by date, commit, machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import _common

BACKENDS = (("PyTorch fp32", "model", "pytorch"), ("ONNX Runtime fp32", "onnx", "onnx"),
            ("ONNX Runtime int8 (dynamic)", "onnx-int8", "onnx"))
MAIN_METRIC = {"token_classification": "f1"}


def make_batches(pred, records, batch_size: int):
    encoded = pred.encode(records)
    order = sorted(range(len(encoded)), key=lambda i: pred.task.length(encoded[i]))
    return [pred.collate([encoded[i] for i in order[b:b + batch_size]]) for b in range(0, len(order), batch_size)]


def score(task, labels, backend, batches):
    """The task metric and the decisions (flattened, for agreement) over all batches."""
    import torch

    metric = task.metric(labels)
    decisions = []
    for batch in batches:
        preds, target = task.metric_inputs(backend.logits(batch), batch, labels)
        metric.update(preds, target)
        keep = target.reshape(-1) >= 0  # word-level NER pads words with -100
        decisions.append(preds.reshape(-1)[keep])
    return {k: float(v) for k, v in metric.compute().items()}, torch.cat(decisions)


def timed_pass(backend, batches) -> list[float]:
    times = []
    for batch in batches:
        t = time.perf_counter()
        backend.logits(batch)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="run directory, export.py out_dir, or exported model folder")
    ap.add_argument("--data", default=None, help="data config (conf/data/<name>.yaml) if the model has no run")
    ap.add_argument("--data-dir", default=None, help="override data.data_dir (default: the run's / TUNELAB_DATA_DIR)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None, help="first N records only (smoke runs)")
    ap.add_argument("--export-dir", default=None, help="where ONNX exports go (default: beside model/, or <run>/export)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--single", type=int, default=200, help="texts timed one at a time (batch 1); 0: skip")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--duration", type=float, default=0.0,
                    help="stop starting new repeats after this many seconds of timing (0: run all --repeats)")
    ap.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime intra-op threads")
    ap.add_argument("--out", default=None, help="markdown file (default: bench_onnx_<data>.md beside this script)")
    args = ap.parse_args()

    import torch

    from tunelab.quiet import quiet
    from tunelab.serving import backend as backends
    from tunelab.serving import loading
    from tunelab.serving.predictor import Predictor

    quiet()
    torch.set_num_threads(args.threads)  # the onnx backend reads it for its intra-op pool too
    folders = _common.exports(args.model, args.export_dir)
    specs = {key: loading.describe(folders[key]) for _, key, _ in BACKENDS}
    spec = specs["model"]
    tokenizer = loading.load_tokenizer(spec)
    dm = _common.data_module(spec, args.data, args.data_dir, tokenizer)
    records = dm.records[args.split][: args.limit] if args.limit else dm.records[args.split]
    loaded = {name: backends.load(kind, specs[key]) for name, key, kind in BACKENDS}
    pred = Predictor.from_spec(spec, loaded["PyTorch fp32"], tokenizer, batch_size=args.batch_size)
    task, labels = pred.task, pred.labels
    batches = make_batches(pred, records, args.batch_size)
    singles = make_batches(pred, records[: args.single], 1) if args.single else []
    n_texts = len(records)
    print(f"{dm.name}/{args.split}: {n_texts} records, {len(batches)} batches of <= {args.batch_size}; "
          f"{len(singles)} single texts", flush=True)

    metrics, decisions = {}, {}
    for name, backend in loaded.items():
        metrics[name], decisions[name] = score(task, labels, backend, batches)
        print(f"{name}: {metrics[name]}", flush=True)
    names = list(loaded)
    pass_s = {n: [] for n in names}
    batch_s = {n: [] for n in names}
    single_s = {n: [] for n in names}
    for name in names:  # warm-up: first-run allocations and lazy init out of the timings
        timed_pass(loaded[name], batches[:2] + singles[:2])
    started = time.perf_counter()
    done = 0
    for r in range(args.repeats):
        if args.duration and done and time.perf_counter() - started > args.duration:
            break
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order per repeat
            times = timed_pass(loaded[name], batches)
            pass_s[name].append(sum(times))
            batch_s[name].append(statistics.median(times))
            if singles:
                single_s[name].append(statistics.median(timed_pass(loaded[name], singles)))
        done += 1
        print(f"repeat {r + 1}: " + ", ".join(f"{n} {pass_s[n][-1]:.2f}s" for n in names), flush=True)

    sizes = {name: _size_mb(folders[key]) for name, key, _ in BACKENDS}
    rows = []
    base_tps = n_texts / statistics.median(pass_s[names[0]])
    main = MAIN_METRIC.get(task.name, "acc")
    for name in names:
        tps = n_texts / statistics.median(pass_s[name])
        agree = (decisions[name] == decisions[names[0]]).float().mean().item()
        m = metrics[name]
        rows.append([name, f"{tps:.1f}", f"{tps / base_tps:.2f}x", f"{1000 * statistics.median(batch_s[name]):.1f}",
                     f"{1000 * statistics.median(single_s[name]):.2f}" if single_s[name] else "-",
                     f"{m[main]:.4f}", f"{m[main] - metrics[names[0]][main]:+.4f}",
                     " / ".join(f"{k} {v:.4f}" for k, v in sorted(m.items()) if k != main), f"{agree:.4f}",
                     f"{sizes[name]:.1f}"])
    recorded = {k: v for k, v in (spec.info.get("metrics") or {}).items() if k.startswith(f"{args.split}/")}
    out = Path(args.out) if args.out else HERE / f"bench_onnx_{dm.name}.md"
    write_table(out, args, dm.name, task.name, spec, folders, n_texts, len(batches), done, rows, main, recorded)
    print(out.read_text())


def _size_mb(folder: str) -> float:
    folder = Path(folder)
    files = [folder / "model.onnx"] if (folder / "model.onnx").is_file() else list(folder.glob("*.safetensors")) or list(
        folder.glob("*.bin"))
    return sum(os.path.getsize(f) for f in files) / 2**20


def write_table(out: Path, args, data: str, task: str, spec, folders, n_texts, n_batches, done, rows, main, recorded):
    from tunelab.run_info import machine_header

    unit = "words" if task == "token_classification" else "texts"
    lines = [
        f"# PyTorch vs ONNX Runtime (fp32, dynamic int8): {data} {args.split}, {spec.info.get('base_model') or spec.path}", "",
        machine_header().rstrip(),
        f"- command: `{_common.command_line()}`",
        f"- versions: {_common.versions()}",
        f"- model: {spec.info.get('run_dir') or spec.path} (method {spec.info.get('method')}); exports: "
        f"{folders['onnx']}, {folders['onnx-int8']}",
        f"- data: {n_texts} {args.split} records, {n_batches} length-sorted batches of <= {args.batch_size} "
        f"(max_length {spec.max_length}); batch-1 latency over the first {args.single} records",
        f"- timing: {done} repeat(s) of a full pass per backend in one process, order rotating; medians; "
        f"{args.threads} intra-op thread(s) for torch and ONNX Runtime",
        f"- metric: the project's test metric on each backend's logits ({main}); 'agrees': share of {unit} "
        f"whose decision equals PyTorch fp32's",
    ]
    if recorded:
        lines.append("- the run's own test metrics (evaluate.py): " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(recorded.items())))
    lines += [
        "",
        f"| backend | texts/s (batch {args.batch_size}) | speedup | ms / batch | ms / text (batch 1) | {main} | "
        f"Δ{main} | other metrics | agrees | weights MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
