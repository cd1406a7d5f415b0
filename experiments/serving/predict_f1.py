"""predict.py on a real NER run, scored against the gold tags: does it reproduce the run's test F1?

Runs the batch predictor (the server's code path) on the test file of the run's data config, fed
its words ({"tokens"} lines), and scores the predicted tags with the metric's own EntityF1
against the gold tags; prints and writes a markdown block beside the run's recorded test F1.

    TUNELAB_DATA_DIR=../shared/datasets python experiments/serving/predict_f1.py --run logs/backbones/minilm_ncbi_s1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))


def entity_f1(labels: list[str], gold: list[list[str]], pred: list[list[str]]) -> float:
    import torch

    from tunelab.metrics.entities import EntityF1

    metric, ids = EntityF1(labels), {n: i for i, n in enumerate(labels)}
    for g, p in zip(gold, pred, strict=True):
        metric.update(torch.tensor([[ids[t] for t in p]]), torch.tensor([[ids[t] for t in g]]))
    return float(metric.compute()["f1"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a finished token-classification run directory")
    ap.add_argument("--out", default=str(HERE / "predict_f1.md"))
    args = ap.parse_args()
    from tunelab.data.readers import read_conll
    from tunelab.run_info import machine_header
    from tunelab.serving.batch import predict_file

    run = Path(args.run)
    info = json.loads((run / "run_info.json").read_text())
    recorded = json.loads((run / "metrics.json").read_text())["test/f1"]
    labels = json.loads((run / "labels.json").read_text())
    data = info["config"]["data"]
    data_dir = Path(os.environ.get("TUNELAB_DATA_DIR") or data["data_dir"])
    test_file = data_dir / data["source"]["files"]["test"]
    gold = read_conll(test_file, **(data["source"].get("options") or {}))
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "test.jsonl", Path(tmp) / "pred.jsonl"
        src.write_text("".join(json.dumps({"tokens": r["tokens"]}) + "\n" for r in gold))
        t0 = time.perf_counter()
        predict_file({"model_path": str(run), "input": str(src), "output": str(out), "progress": False})
        seconds = time.perf_counter() - t0
        pred = [json.loads(line)["tags"] for line in out.read_text().splitlines()]
    f1 = entity_f1(labels, [r["tags"] for r in gold], pred)
    block = "\n".join([
        "# predict.py reproduces the run's test F1 (issue 15)", "", machine_header().rstrip(),
        f"- command: `TUNELAB_DATA_DIR=../shared/datasets python experiments/serving/predict_f1.py --run {args.run}`",
        f"- run: {info['config']['task_name']}, seed {info['config']['seed']}, model {info['config']['model']['name_or_path']}, "
        f"commit {info['git_commit'][:10]}; test file {data['source']['files']['test']} ({len(gold)} sentences)",
        "", "| | test entity F1 |", "| --- | --- |",
        f"| the run's evaluation (metrics.json, test/f1) | {recorded:.6f} |",
        f"| predict.py on the test words, scored against the gold tags | {f1:.6f} |", "",
        f"Equal: **{f1 == recorded}** (difference {f1 - recorded:+.2e}); predict.py took {seconds:.0f} s "
        f"for {len(gold)} sentences (1 torch thread, the run's tested checkpoint rebuilt from its config).", ""])
    Path(args.out).write_text(block)
    print(block)


if __name__ == "__main__":
    main()
