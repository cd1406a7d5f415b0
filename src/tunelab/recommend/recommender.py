"""A trained full-ranking model (a ``rec_ml100k_sasrec`` or ``rec_ml100k_text`` run) answering
"what next" for a history: what ``serve.py``'s ``POST /recommend`` calls.

Built exactly as the run built it (its ``run_info.json`` config, the data read again for the item
ids and texts) and loaded from the checkpoint the run tested, so served rankings equal evaluated ones.
History entries are item ids (``"50"`` or ``50``) or titles (``"Star Wars (1977)"``, any case).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import torch

from tunelab.errors import ConfigError

SERVABLE = ("sasrec", "text")


class UnknownItem(ValueError):
    """A history entry that is neither an item id nor a title of the data (the route answers 422)."""


def _checkpoint(run: Path, info: dict) -> Path:
    saved = info.get("tested_checkpoint")
    for p in ([Path(saved), run / "checkpoints" / Path(saved).name] if saved else []) + [run / "checkpoints" / "last.ckpt"]:
        if p.is_file():
            return p
    raise ConfigError(f"recommender: {run} has no checkpoint (a finished rec_ml100k_sasrec, _text or _hybrid run)")


class Recommender:
    def __init__(self, run_dir: str | Path) -> None:
        self.run = Path(run_dir).expanduser()
        path = self.run / "run_info.json"
        if not path.is_file():
            raise ConfigError(f"recommender: {self.run} has no run_info.json (give a rec_ml100k_sasrec, _text or _hybrid run dir)")
        self.info = json.loads(path.read_text())
        rec = (self.info.get("config") or {}).get("rec") or {}
        if rec.get("name") not in SERVABLE:
            raise ConfigError(f"recommender: {self.run} is a {rec.get('name') or 'non-recommendation'} run; "
                              f"/recommend ranks the catalogue with {' or '.join(SERVABLE)}")
        self.ckpt = _checkpoint(self.run, self.info)
        self._lock = threading.Lock()
        self._net = None

    def load(self) -> "Recommender":
        """Build the model now (else on the first call): a server loads it before it says ready."""
        with self._lock:
            if self._net is None:
                self._load()
        return self

    def _load(self) -> None:
        from hydra.utils import instantiate
        from omegaconf import OmegaConf

        from tunelab.recommend.builders import BUILDERS

        cfg = OmegaConf.create(self.info["config"])
        dm = instantiate(cfg.data)
        dm.load()
        built = BUILDERS[cfg.rec.name](cfg, OmegaConf.to_container(cfg.rec, resolve=True), dm)
        state = torch.load(str(self.ckpt), map_location="cpu", weights_only=False)["state_dict"]
        built.module.load_state_dict(state)
        net = built.module.net.eval()
        with torch.no_grad():
            net.prepare_ranking()
        self.dm, self._net = dm, net
        self.by_id = {item: i + 1 for i, item in enumerate(dm.item_ids)}
        self.titles = [t.split(". Genres: ")[0] for t in dm.texts]
        self.by_title = {t.lower(): i for i, t in enumerate(self.titles) if i}

    def resolve(self, entry: str | int) -> int:
        key = str(entry).strip()
        if key in self.by_id:
            return self.by_id[key]
        if key.lower() in self.by_title:
            return self.by_title[key.lower()]
        raise UnknownItem(f"history: {entry!r} is neither an item id nor a title of {self.dm.name}")

    def __call__(self, history: list[str | int], k: int = 10, exclude_seen: bool = True) -> list[dict]:
        with self._lock:  # one forward at a time; the model loads on first use
            if self._net is None:
                self._load()
            items = [self.resolve(h) for h in history]
            ids = torch.tensor([items[-self.dm.max_len:]])
            with torch.no_grad():
                scores = self._net.score(ids)[0].float()
            scores[0] = float("-inf")  # padding
            if exclude_seen:
                scores[items] = float("-inf")
            top = scores.topk(min(k, int(torch.isfinite(scores).sum())))
            return [{"id": self.dm.item_ids[i - 1], "title": self.titles[i], "score": round(float(s), 6)}
                    for i, s in zip(top.indices.tolist(), top.values.tolist())]
