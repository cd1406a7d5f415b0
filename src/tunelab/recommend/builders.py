"""One function per model (``rec.name``): the net, its LightningModule and the datasets it uses.

Each returns a ``Built``; the runner does the rest the same way for all three.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import Dataset

from tunelab.errors import ConfigError
from tunelab.recommend import candidates as cand_io
from tunelab.recommend.examples import PairCollator, PairEvalSet, PairTrainSet, QuerySet, WindowSet


@dataclass
class Built:
    module: Any
    train: Dataset
    val: Dataset
    test: Dataset
    ranks_catalogue: bool  # a full-ranking model: writes candidates.json and its full-ranking time


def _optim(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg.optim, resolve=True)


def _ranking_sets(dm, seed: int) -> tuple[Dataset, Dataset, Dataset]:
    return WindowSet(dm.split, dm.max_len, seed), QuerySet(dm.split, "val", dm.max_len), QuerySet(dm.split, "test", dm.max_len)


def sasrec(cfg: DictConfig, rec: Mapping[str, Any], dm) -> Built:
    from tunelab.recommend.module import RankingModule
    from tunelab.recommend.nets import SASRec

    net = SASRec(dm.split.n_items, int(rec["dim"]), int(rec["layers"]), int(rec["heads"]), dm.max_len, float(rec["dropout"]))
    return Built(RankingModule(net, _optim(cfg)), *_ranking_sets(dm, int(cfg.seed)), ranks_catalogue=True)


def _encoder(cfg: DictConfig):
    from tunelab.models.backbone import build_tokenizer
    from tunelab.recommend.encoder import apply_method, build_encoder

    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    tokenizer = build_tokenizer(model_cfg)
    encoder, hidden = build_encoder(model_cfg, tokenizer)
    return tokenizer, apply_method(encoder, OmegaConf.to_container(cfg.method, resolve=True)), hidden


def text(cfg: DictConfig, rec: Mapping[str, Any], dm) -> Built:
    from tunelab.recommend.module import RankingModule
    from tunelab.recommend.nets import ItemTower, TextRec

    tokenizer, encoder, hidden = _encoder(cfg)
    tokens = dict(tokenizer(dm.texts, truncation=True, max_length=int(rec["item_max_length"]), padding=True,
                            return_tensors="pt"))
    tower = ItemTower(encoder, hidden, int(rec["dim"]), tokens, item_ids=bool(rec.get("item_ids", False)))
    net = TextRec(tower, int(rec["dim"]), int(rec["layers"]), int(rec["heads"]), dm.max_len, float(rec["dropout"]),
                  int(rec["negatives"]), int(rec["train_positions"]), float(rec["temperature"]))
    return Built(RankingModule(net, _optim(cfg)), *_ranking_sets(dm, int(cfg.seed)), ranks_catalogue=True)


def eval_rows(n: int, users: int | None, seed: int) -> list[int]:
    """A seeded subset of users (sorted), the same for every model and seed: reranking 50 pairs per
    user with a cross-encoder is the costly part of the reranker's evaluation."""
    if not users or users >= n:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n, int(users), replace=False).tolist())


def rerank(cfg: DictConfig, rec: Mapping[str, Any], dm) -> Built:
    from tunelab.recommend.module import RerankModule
    from tunelab.recommend.nets import CrossEncoder

    if not rec.get("candidates"):
        raise ConfigError("rec.candidates: the reranker needs a first stage's top-K: "
                          "rec.candidates=<a rec_ml100k_text run>/candidates.json")
    ranked = cand_io.read(rec["candidates"], dm)
    tokenizer, encoder, hidden = _encoder(cfg)
    collator = PairCollator(tokenizer, int(rec["max_length"]))
    recent, seed = int(rec["recent"]), int(cfg.seed)
    rows = eval_rows(len(dm.split.users), rec.get("eval_users"), int(rec["eval_users_seed"]))
    train = PairTrainSet(dm.split, dm.texts, {r: c for r, (c, _) in ranked["train"].items()}, int(rec["negatives"]),
                         recent, seed, collator)
    val = PairEvalSet(dm.split, dm.texts, "val", ranked["val"], rows, recent, collator)
    test = PairEvalSet(dm.split, dm.texts, "test", ranked["test"], rows, recent, collator)
    net = CrossEncoder(encoder, hidden, float(rec["head_dropout"]))
    return Built(RerankModule(net, _optim(cfg)), train, val, test, ranks_catalogue=False)


BUILDERS: dict[str, Callable[..., Built]] = {"sasrec": sasrec, "text": text, "rerank": rerank}
