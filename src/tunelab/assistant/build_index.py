"""Build the retrieval index over a data config's training pairs and score it on a split.

    python -m tunelab.assistant.build_index --data bitext_sft --out IDX.pt [--encoder minilm|me5_small|PATH] \
        [--eval-split test] [--k 5] [--threads 1]

Writes IDX.pt (embeddings + records + encoder) and, with ``--eval-split``, ``<IDX>.metrics.json``:
Recall@1, Recall@k and MRR of retrieving a pair of the question's own group (Bitext: intent).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from tunelab import run_info
from tunelab.assistant import costs
from tunelab.assistant.data import split_records
from tunelab.assistant.retrieval import DEFAULT_ENCODER, Embedder, Index, ranking_metrics
from tunelab.errors import TunelabError

ENCODERS = {"minilm": DEFAULT_ENCODER, "me5_small": "me5_small"}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m tunelab.assistant.build_index", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--encoder", default="minilm")
    p.add_argument("--eval-split", default=None)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        from tunelab.quiet import quiet

        quiet()
        embedder = Embedder(ENCODERS.get(args.encoder, args.encoder))
        started = time.perf_counter()
        index = Index.build(split_records(args.data, "train", seed=args.seed), embedder)
        built = time.perf_counter() - started
        path = index.save(args.out)
        print(f"{path}: {len(index.records)} pairs, {index.embeddings.shape[1]} dims, built in {built:.1f}s")
        if args.eval_split:
            test = split_records(args.data, args.eval_split, seed=args.seed)
            started = time.perf_counter()
            queries = embedder([r["prompt"] for r in test])
            metrics = ranking_metrics(index, queries, [r["group"] for r in test], k=args.k)
            metrics.update(encoder=args.encoder, split=args.eval_split, build_s=built,
                           query_s_per_question=(time.perf_counter() - started) / len(test), **costs.peak_memory())
            run_info.write_json(Path(f"{path}.metrics.json"), metrics)
            print(json.dumps(metrics))
    except TunelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
