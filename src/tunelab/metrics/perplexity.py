"""Perplexity over a whole split: exp(total NLL / total predicted tokens), never a mean of batch ppl."""

from __future__ import annotations

import torch
import torchmetrics


class Perplexity(torchmetrics.Metric):
    full_state_update = False
    higher_is_better = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("nll", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("tokens", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, mean_loss: torch.Tensor, n_tokens: int | torch.Tensor) -> None:
        n = torch.as_tensor(n_tokens, device=self.tokens.device)
        self.nll += mean_loss.detach().double() * n
        self.tokens += n.long()

    def compute(self) -> dict[str, torch.Tensor]:
        loss = self.nll / self.tokens.clamp_min(1)
        return {"loss": loss.float(), "perplexity": torch.exp(loss).float()}
