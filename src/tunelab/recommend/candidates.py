"""A ranking model's top-K per user and stage: the reranker's input, and the full-ranking cost.

``rank_all`` scores every user against the whole catalogue (seen items excluded) and times it:
item table included, this is the "inference time for full ranking of all users". The file
(``candidates.json`` in the run directory) keeps raw user and item ids, the split seed and each
query's target, so a reranker run can check that it was made on the same split.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from tunelab.errors import ConfigError, DataError
from tunelab.recommend.examples import STAGES, QuerySet
from tunelab.recommend.metrics import seen_mask, target_ranks
from tunelab.run_info import write_json


@torch.no_grad()
def rank_all(net, dm, stage: str, k: int, prepare: bool = True) -> tuple[dict, float]:
    """{user id: {"items": top-k item ids, "target": item id, "rank": target rank}} and the seconds it took
    (with ``prepare``: the item table too; without, the table of the previous call is reused)."""
    was = net.training
    net.eval()
    ds = QuerySet(dm.split, stage, dm.max_len)
    loader = DataLoader(ds, batch_size=dm.eval_batch_size, collate_fn=ds.collate)
    device = next(net.parameters()).device
    out = {}
    try:
        t0 = time.perf_counter()
        if prepare:
            net.prepare_ranking()
        for batch in loader:
            batch = {key: v.to(device) for key, v in batch.items()}
            scores = net.score(batch["input_ids"])
            mask = seen_mask(batch["seen"], scores.shape[1])
            ranks = target_ranks(scores, batch["targets"], mask)
            masked = scores.float().masked_fill(mask, float("-inf"))
            top = masked.topk(min(k, scores.shape[1] - 1), dim=1)
            for row, items, vals, target, rank in zip(batch["rows"].tolist(), top.indices.tolist(), top.values.tolist(),
                                                      batch["targets"].tolist(), ranks.tolist()):
                # fewer unseen items than k: the rest of the top-k would be seen ones (-inf)
                items = [i for i, v in zip(items, vals) if v != float("-inf")]
                out[dm.split.users[row]] = {"items": [dm.item_ids[i - 1] for i in items],
                                            "target": dm.item_ids[target - 1], "rank": int(rank)}
        seconds = time.perf_counter() - t0
    finally:
        net.train(was)
    return out, seconds


def write(path: Path, dm, stages: dict[str, dict], k: int, source: str) -> None:
    write_json(path, {"k": k, "seed": dm.seed, "data": dm.meta.get("fingerprint"), "source": source, "stages": stages})


def read(path: str | Path, dm, stages=STAGES) -> dict[str, dict[int, tuple[list[int], int]]]:
    """stage -> {split row: (candidate item indices, target rank)}, checked against ``dm``'s split."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"rec.candidates: no such file {str(p)!r} (a text or SASRec run writes <run>/candidates.json)")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{p}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
    if data.get("seed") != dm.seed:
        raise ConfigError(f"rec.candidates: {p} was made on the split of seed {data.get('seed')}, this run's is "
                          f"{dm.seed} (ties are broken by the seed): use the first-stage run of the same seed")
    row_of = {u: r for r, u in enumerate(dm.split.users)}
    index = {item: i + 1 for i, item in enumerate(dm.item_ids)}
    from tunelab.recommend.examples import query

    out = {}
    for stage in stages:
        entries = (data.get("stages") or {}).get(stage)
        if entries is None:
            raise DataError(f"{p}: no stage {stage!r} (it has {', '.join(sorted(data.get('stages') or {}))})")
        got = {}
        for user, e in entries.items():
            if user not in row_of or any(i not in index for i in e["items"]) or e["target"] not in index:
                raise DataError(f"{p}: stage {stage!r}, user {user!r}: a user or item this data does not have")
            row = row_of[user]
            q = query(dm.split, row, stage)
            if q is None or q[1] != index[e["target"]]:
                raise ConfigError(f"rec.candidates: {p}: user {user!r}'s {stage} target differs from this split's "
                                  "(another data file or seed)")
            got[row] = ([index[i] for i in e["items"]], int(e["rank"]))
        out[stage] = got
    return out
