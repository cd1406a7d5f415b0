"""Each task of a sequence is the experiment's data config with its ``source.task`` (and any
per-order overrides, e.g. LFPT5's ``source.fold``) set: the same reader, split and checks as a
single-task run. Here: read it, cap train/test (seeded, stratified, stated), and encode it with the
label map of the setting (the task's own labels, or the union of all tasks' label strings)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tunelab.data import readers
from tunelab.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class TaskData:
    name: str
    records: dict[str, list[dict]]
    label_names: list[str]
    task: Any  # the tunelab task object (sequence_classification)
    meta: dict[str, Any] = field(default_factory=dict)


def task_data_config(cfg: DictConfig, name: str, overrides: dict | None = None) -> DictConfig:
    data = OmegaConf.to_container(cfg.data, resolve=False)
    data["source"]["task"] = name
    for key, value in (overrides or {}).items():  # dotted keys below data, e.g. source.fold
        node = data
        *parents, last = str(key).split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    full = OmegaConf.to_container(cfg, resolve=False)
    full["data"] = data
    return OmegaConf.create(full).data


def cap(records: list[dict], n: int | None, seed: int, label_key: str | None) -> list[dict]:
    """At most n records: a seeded stratified subset (every class in proportion), order kept."""
    if not n or len(records) <= n:
        return records
    frac = n / len(records)
    return readers.stratified_split(records, {"keep": frac, "rest": 1.0 - frac}, seed=seed, label_key=label_key)["keep"]


def _dropped(meta: dict, source: dict) -> dict[str, int]:
    """Records the reader dropped for a label in ``source.options.drop_labels`` (MNLI's "-"), per split."""
    drop = set((source.get("options") or {}).get("drop_labels") or [])
    out = {}
    for split, path in (meta.get("files") or {}).items():
        if drop and str(path).endswith(".json"):
            with open(path, encoding="utf-8") as f:
                n = sum(1 for r in json.load(f) if r.get("label") in drop)
            if n:
                out[split] = n
    return out


def load_task(cfg: DictConfig, name: str, overrides: dict | None, caps: dict, eval_split: str = "test") -> TaskData:
    """The task's train split and the split R is scored on: ``test``, or ``validation`` to choose a
    strategy's knobs without looking at test (the test cap applies to whichever is scored)."""
    dcfg = task_data_config(cfg, name, overrides)
    dm = instantiate(dcfg, tokenizer=None)
    dm.load()
    seed = int(caps.get("seed", 0))
    records = {}
    for split, limit in (("train", caps.get("train")), (eval_split, caps.get("test"))):
        if not dm.records.get(split):
            raise ConfigError(f"sequence.eval_split={eval_split}: task {name} has no {split} records")
        records[split] = cap(dm.records[split], limit, seed, dm.task.stratify_key)
    meta = {k: v for k, v in dm.meta.items() if k in ("origin", "files", "fingerprint", "split", "name")}
    meta["sizes_read"] = {k: len(dm.records[k]) for k in records}
    meta["sizes_used"] = {k: len(v) for k, v in records.items()}
    meta["caps"] = {"train": caps.get("train"), eval_split: caps.get("test"), "seed": seed, "how": "seeded stratified subset"}
    dropped = _dropped(dm.meta, OmegaConf.to_container(dcfg.source, resolve=True))
    if dropped:
        meta["dropped_no_gold_label"] = dropped
        log.info("%s: dropped records without a gold label: %s", name, dropped)
    # Labels from the training split only (a test label never trained is refused by dm.load()).
    return TaskData(name, records, list(dm.label_names), dm.task, meta)


def encode(td: TaskData, tokenizer, label2id: dict[str, int], task_id: int, max_length: int, split: str) -> list[dict]:
    items = td.task.encode(td.records[split], tokenizer, label2id, max_length)
    for it in items:
        it.pop("truncated", None)
        it["task_id"] = task_id
    return items
