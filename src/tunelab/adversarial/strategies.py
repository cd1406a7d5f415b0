"""Adversarial training strategies: FGM, PGD-K, FreeLB-K. Each returns the loss to backpropagate.

* FGM (Miyato et al. 2017): one step of size eps along the clean loss gradient;
  loss = clean + adversarial.
* PGD-K (Madry et al. 2018): K projected ascent steps of ``step_size`` inside the eps-ball;
  loss = clean + adversarial at the final delta.
* FreeLB-K (Zhu et al. 2020): K ascent steps from a random start; the parameter gradients of all
  K perturbed losses are accumulated (loss = mean over the K steps), "free" adversarial training.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from tunelab.adversarial.embedding import (
    ascent_direction,
    check_norm,
    loss_fn,
    pgd_delta,
    project,
    random_init,
    split_inputs,
)


class FGM:
    def __init__(self, eps: float = 0.25, norm: str = "l2") -> None:
        self.eps = float(eps)
        self.norm = check_norm(norm, "adversarial.norm")

    def training_loss(self, model: nn.Module, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        embeds, mask, rest = split_inputs(model, inputs)
        loss = loss_fn(model, rest)
        delta0 = torch.zeros_like(embeds, requires_grad=True)
        clean = loss(embeds + delta0)
        # Gradient w.r.t. the perturbation only; the graph is kept for the clean loss's backward.
        (grad,) = torch.autograd.grad(clean, delta0, retain_graph=True)
        delta = self.eps * ascent_direction(grad, self.norm, mask)
        return clean + loss(embeds + delta.detach())


class PGD:
    def __init__(self, eps: float = 0.25, steps: int = 3, step_size: float = 0.1, norm: str = "l2") -> None:
        self.eps, self.steps, self.step_size = float(eps), int(steps), float(step_size)
        self.norm = check_norm(norm, "adversarial.norm")

    def training_loss(self, model: nn.Module, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        embeds, mask, rest = split_inputs(model, inputs)
        loss = loss_fn(model, rest)
        clean = loss(embeds)
        delta = pgd_delta(loss, embeds, mask, self.eps, self.steps, self.step_size, self.norm)
        return clean + loss(embeds + delta)


class FreeLB:
    def __init__(self, eps: float = 0.25, steps: int = 3, step_size: float = 0.1, init_mag: float = 0.025,
                 norm: str = "l2") -> None:
        self.eps, self.steps, self.step_size = float(eps), int(steps), float(step_size)
        self.init_mag = float(init_mag)
        self.norm = check_norm(norm, "adversarial.norm")

    def training_loss(self, model: nn.Module, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        embeds, mask, rest = split_inputs(model, inputs)
        loss = loss_fn(model, rest)
        delta = random_init(embeds, mask, self.init_mag, self.norm)
        total = embeds.new_zeros(())
        for _ in range(self.steps):
            d = delta.detach().requires_grad_(True)
            step_loss = loss(embeds + d)
            (grad,) = torch.autograd.grad(step_loss, d, retain_graph=True)
            total = total + step_loss / self.steps  # parameter gradients accumulate over the K steps
            delta = project(d.detach() + self.step_size * ascent_direction(grad, self.norm, mask), self.eps, self.norm) * mask
        return total
