"""A data config's records by split, outside a training run (index building, generation scoring).

The data config (``conf/data/<name>.yaml`` over ``_base.yaml``) is read with OmegaConf, not
composed by Hydra, so this also works inside a running Hydra app (assist.py); the datamodule then
reads and splits exactly as training does: same files, same seeded split, same records.
"""

from __future__ import annotations

import random
from pathlib import Path

from omegaconf import OmegaConf

from tunelab.errors import ConfigError


def _conf() -> Path:
    from tunelab.cli import conf_dir

    return conf_dir()


def split_records(data: str, split: str = "test", data_dir: str | None = None, seed: int = 42) -> list[dict]:
    from hydra.utils import instantiate

    folder = _conf() / "data"
    path = folder / f"{data}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("_")))
        raise ConfigError(f"data: no data config {data!r} in {folder}; known: {known}")
    own = OmegaConf.load(path)
    bases = [OmegaConf.load(folder / f"{b}.yaml") for b in own.pop("defaults", []) if isinstance(b, str)]
    root = OmegaConf.create({"paths": {"data_dir": data_dir}, "seed": seed})
    root.data = OmegaConf.merge(*bases, own)
    dm = instantiate(root.data, tokenizer=None)
    dm.load()
    if split not in dm.records:
        raise ConfigError(f"split: {data} has no split {split!r}; it has {', '.join(sorted(dm.records))}")
    return dm.records[split]


def capped(records: list[dict], cap: int | None, seed: int = 0) -> list[dict]:
    """A seeded sample of ``cap`` records in their original order (Bitext's file is sorted by
    intent: a prefix would hold two intents), or all of them."""
    if not cap or cap >= len(records):
        return list(records)
    keep = sorted(random.Random(seed).sample(range(len(records)), cap))
    return [records[i] for i in keep]
