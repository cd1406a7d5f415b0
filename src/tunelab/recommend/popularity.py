"""Test metrics by the popularity of the target item: how text helps as items get rarer.

The cold subset (targets with <= 5 training interactions) holds ~18 of ML-100K's 943 users, where
one hit moves HR@10 by 0.056: too few to tell models apart. Bucketing every test target by its
item's training interactions (<= 5, 6-20, 21-50, 51-100, > 100) shows the same question with
hundreds of users per bucket (the first bucket is the run's cold subset). Computed from
``candidates.json`` (each user's full-ranking target rank) and the split, so finished runs get it too:

    python -m tunelab.recommend.popularity logs/recommendation/hybrid_s1 ...   # writes <run>/popularity.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from tunelab.errors import DataError
from tunelab.recommend.metrics import summarize
from tunelab.run_info import write_json

EDGES = (5, 20, 50, 100)


def edges_for(cold_max: int, edges=EDGES) -> tuple[int, ...]:
    """The first bucket is the run's cold subset (``data.cold_max``), the rest the fixed edges above it."""
    return (cold_max, *[e for e in edges if e > cold_max])


def bucket_names(edges=EDGES) -> list[str]:
    names, lo = [], 0
    for hi in edges:
        names.append(f"{lo}-{hi}")
        lo = hi + 1
    return [*names, f">{edges[-1]}"]


def bucket_of(count: int, edges=EDGES) -> str:
    names = bucket_names(edges)
    for name, hi in zip(names, edges):
        if count <= hi:
            return name
    return names[-1]


def by_popularity(ranks: list[int], counts: list[int], edges=EDGES) -> dict[str, dict[str, float]]:
    """{bucket: {"users", "hr_10", "ndcg_10", "mrr"}} from each user's target rank and its item's training count."""
    groups: dict[str, list[int]] = {name: [] for name in bucket_names(edges)}
    for rank, count in zip(ranks, counts):
        groups[bucket_of(int(count), edges)].append(rank)
    return {name: {"users": float(len(r)), **summarize(torch.tensor(r, dtype=torch.float64))} for name, r in groups.items()}


def write(run: Path, dm) -> dict[str, dict[str, float]]:
    """<run>/popularity.json from <run>/candidates.json's test stage and ``dm``'s split."""
    path = Path(run) / "candidates.json"
    try:
        stage = json.loads(path.read_text())["stages"]["test"]
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: no test stage to bucket ({type(exc).__name__}: {exc})") from None
    index = {item: i + 1 for i, item in enumerate(dm.item_ids)}
    counts = dm.split.train_counts
    ranks = [int(e["rank"]) for e in stage.values()]
    buckets = by_popularity(ranks, [int(counts[index[e["target"]]]) for e in stage.values()], edges_for(dm.split.cold_max))
    write_json(Path(run) / "popularity.json", {"by": "training interactions of the test target's item",
                                                "buckets": buckets})
    return buckets


def main(argv: list[str]) -> int:
    from hydra.utils import instantiate

    for run in map(Path, argv):
        cfg = json.loads((run / "run_info.json").read_text())["config"]
        dm = instantiate(cfg["data"])
        dm.load()
        buckets = write(run, dm)
        print(run, {k: (int(v["users"]), round(v["ndcg_10"], 4)) for k, v in buckets.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
