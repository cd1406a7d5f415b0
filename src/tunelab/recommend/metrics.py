"""Full-ranking metrics: the target is ranked against every item the user has not interacted with.

Sampled-negative metrics (100 random negatives) can reorder models (Krichene & Rendle 2020), so
every score here ranks the whole catalogue. Ties count against the target (pessimistic rank:
an item scored equal to the target ranks above it), so a constant model cannot score HR = 1.
"""

from __future__ import annotations

import math

import torch

K = 10


def seen_mask(seen: torch.Tensor, n_columns: int) -> torch.Tensor:
    """[B, n_columns] bool from padded item indices [B, S] (0 = padding); column 0 (padding) is always masked."""
    mask = torch.zeros(seen.shape[0], n_columns, dtype=torch.bool, device=seen.device)
    mask.scatter_(1, seen, True)
    mask[:, 0] = True
    return mask


def target_ranks(scores: torch.Tensor, targets: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """1-based rank of each target among the items not in ``seen`` ([B, N+1] bool).

    The target itself must not be marked seen (the split guarantees it; a masked target would
    silently rank last)."""
    scores = scores.float().masked_fill(seen, float("-inf"))
    t = scores.gather(1, targets[:, None])
    above = (scores > t).sum(1) + (scores == t).sum(1) - 1  # ties: the target ranks after them
    return (1 + above).float()


def summarize(ranks: torch.Tensor, k: int = K, prefix: str = "") -> dict[str, float]:
    """HR@k, NDCG@k (one relevant item: 1/log2(rank+1) inside the top k) and MRR (untruncated)."""
    if ranks.numel() == 0:
        return {f"{prefix}hr_{k}": float("nan"), f"{prefix}ndcg_{k}": float("nan"), f"{prefix}mrr": float("nan")}
    ranks = ranks.double()
    hit = ranks <= k
    ndcg = torch.where(hit, 1.0 / torch.log2(ranks + 1), torch.zeros_like(ranks))
    return {f"{prefix}hr_{k}": hit.double().mean().item(), f"{prefix}ndcg_{k}": ndcg.mean().item(),
            f"{prefix}mrr": (1.0 / ranks).mean().item()}


def ndcg_at(rank: int, k: int = K) -> float:
    return 1.0 / math.log2(rank + 1) if rank <= k else 0.0
