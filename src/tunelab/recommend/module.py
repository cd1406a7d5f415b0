"""The LightningModules: ``RankingModule`` (SASRec, the text model) and ``RerankModule``.

Both score a whole split at once: per-user ranks are gathered over the epoch and turned into
HR@K/NDCG@K/MRR at its end (never an average of batch metrics), for all users and the cold subset.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import lightning.pytorch as L
import torch

from tunelab.optim import build_optimizer
from tunelab.recommend.metrics import K, seen_mask, summarize, target_ranks


def split_metrics(split: str, ranks: torch.Tensor, cold: torch.Tensor, prefix: str = "") -> dict[str, float]:
    out = summarize(ranks, K, f"{split}/{prefix}")
    out.update(summarize(ranks[cold], K, f"{split}/{prefix}cold_"))
    if not prefix:
        out.update({f"{split}/users": float(len(ranks)), f"{split}/cold_users": float(cold.sum())})
    return out


class _Common(L.LightningModule):
    def __init__(self, net, optim: Mapping[str, Any]) -> None:
        super().__init__()
        # from_pretrained returns the encoder in eval mode and Lightning >= 2.2 keeps each
        # submodule's mode: without this, dropout (and LoRA's) would stay off while training.
        self.net = net.train()
        self.optim_cfg = dict(optim)
        self.save_hyperparameters(ignore=["net"])
        self._parts: list[dict[str, torch.Tensor]] = []

    def configure_optimizers(self):
        opt, sched = build_optimizer(self.net, self.optim_cfg, self.trainer.estimated_stepping_batches)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def training_step(self, batch, batch_idx: int):
        loss = self.net.loss(batch)
        self.log("train/loss", loss.detach(), prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def _gathered(self) -> dict[str, torch.Tensor]:
        keys = self._parts[0].keys() if self._parts else ()
        return {k: torch.cat([p[k] for p in self._parts]) for k in keys}

    # Validation and test score the same way; each subclass says how (_start, _step, _end).

    def on_validation_epoch_start(self) -> None:
        self._start()

    def on_test_epoch_start(self) -> None:
        self._start()

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch)

    def test_step(self, batch, batch_idx: int) -> None:
        self._step(batch)

    def on_validation_epoch_end(self) -> None:
        self._end("val")

    def on_test_epoch_end(self) -> None:
        self._end("test")


class RankingModule(_Common):
    def on_train_epoch_start(self) -> None:
        self.net.on_train_epoch_start()

    def _start(self) -> None:
        self.net.prepare_ranking()
        self._parts = []

    def _step(self, batch) -> None:
        scores = self.net.score(batch["input_ids"])
        ranks = target_ranks(scores, batch["targets"], seen_mask(batch["seen"], scores.shape[1]))
        self._parts.append({"ranks": ranks.cpu(), "cold": batch["cold"].cpu()})

    def _end(self, split: str) -> None:
        got = self._gathered()
        if got:
            self.log_dict(split_metrics(split, got["ranks"], got["cold"]))


# Weights of the first stage's order in the reranker's fused score, logit - beta * log(1 + position):
# 0 is the cross-encoder alone; 1000 all but keeps the first stage's order (a logit gap of 1000 *
# log(50/49) ~ 20 would be needed to move an item one place).
BETAS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 1000.0)


def fused_ranks(logits: torch.Tensor, pos: int, betas=BETAS) -> list[float]:
    """The target's pessimistic rank among one user's K candidates (in first-stage order) for each beta."""
    prior = torch.log1p(torch.arange(len(logits), dtype=torch.float64))
    out = []
    for beta in betas:
        fused = logits.double() - beta * prior
        out.append(float((fused > fused[pos]).sum() + (fused == fused[pos]).sum()))
    return out


def choose_beta(ranks_by_beta: torch.Tensor, betas=BETAS) -> float:
    """The beta with the best NDCG@K over users ([users, len(betas)] ranks); ties go to the smaller beta."""
    scores = [summarize(ranks_by_beta[:, j], K)[f"ndcg_{K}"] for j in range(len(betas))]
    return betas[max(range(len(betas)), key=lambda j: (scores[j], -j))]


class RerankModule(_Common):
    """Reorders the first stage's top-K by the cross-encoder's logit fused with the first stage's own
    order (``logit - beta * log(1 + position)``): the cross-encoder sees only texts, never the first
    stage's evidence (ids, popularity), and alone it did worse than the order it started from
    (experiments/recommendation). Each validation picks beta from BETAS on NDCG@10 and the test uses
    that beta (saved in the checkpoint); ``*/ce_only_*`` is the cross-encoder alone (beta 0). A target
    outside the top-K keeps its first-stage rank, so the gain is measured on exactly the users and
    lists it started from."""

    def __init__(self, net, optim: Mapping[str, Any]) -> None:
        super().__init__(net, optim)
        self.beta: float | None = None  # none until a validation chooses it; the test then uses 0 (alone)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rerank_beta"] = self.beta

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # A checkpoint saved before any validation (the 1-epoch recipe validates only after fit) holds
        # None: keep the beta the runner's validation of this same checkpoint just chose.
        if checkpoint.get("rerank_beta") is not None:
            self.beta = float(checkpoint["rerank_beta"])

    def _start(self) -> None:
        self._parts = []
        self._seconds = 0.0

    def _step(self, batch) -> None:
        t0 = time.perf_counter()
        scores = self.net(batch)
        self._seconds += time.perf_counter() - t0
        new = batch["first_rank"].double()[:, None].repeat(1, len(BETAS))
        for i, part in enumerate(torch.split(scores.detach().cpu(), batch["n_cands"].tolist())):
            pos = int(batch["pos"][i])
            if pos >= 0:
                new[i] = torch.tensor(fused_ranks(part, pos), dtype=torch.float64)
        self._parts.append({"ranks": new.cpu(), "first": batch["first_rank"].cpu(), "cold": batch["cold"].cpu(),
                            "pairs": batch["n_cands"].cpu()})

    def _end(self, split: str) -> None:
        got = self._gathered()
        if not got:
            return
        if split == "val":
            self.beta = choose_beta(got["ranks"])
        beta = 0.0 if self.beta is None else self.beta
        out = split_metrics(split, got["ranks"][:, BETAS.index(beta)], got["cold"])
        first = split_metrics(split, got["first"], got["cold"], "first_stage_")
        out.update(first)
        for key, value in list(out.items()):
            if "/first_stage_" not in key and not key.endswith("users"):
                base = first[key.replace(f"{split}/", f"{split}/first_stage_", 1)]
                out[key.replace(f"{split}/", f"{split}/gain_", 1)] = value - base
        out.update(summarize(got["ranks"][:, 0], K, f"{split}/ce_only_"))
        users = len(got["ranks"])
        out[f"{split}/rerank_beta"] = beta
        out[f"{split}/rerank_users"] = float(users)
        out[f"{split}/rerank_ms_per_user"] = 1000.0 * self._seconds / max(users, 1)
        out[f"{split}/rerank_pairs_per_user"] = float(got["pairs"].double().mean())
        self.log_dict(out)


__all__ = ["RankingModule", "RerankModule"]
