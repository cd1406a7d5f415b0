"""Perturbations of embedding outputs: where they apply, their norms, their projections.

Adversarial training and attacks perturb the word-embedding OUTPUT (``inputs_embeds``), never
token ids, and take gradients with respect to the perturbation ``delta`` only (torch.autograd.grad),
so parameters get gradients solely from the losses a strategy chooses to return. That is also
why it composes with frozen and PEFT backbones: nothing here needs the embedding weights to train.

Norms are per example over all its (choices x) tokens x hidden values, and only real tokens are
perturbed (padding keeps delta = 0).
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import nn

from tunelab.errors import ConfigError

NORMS = ("l2", "linf")


def split_inputs(model: nn.Module, inputs: Mapping[str, torch.Tensor]):
    """Word embeddings of the input ids, a 0/1 mask broadcastable to them, and the other inputs."""
    rest = {k: v for k, v in inputs.items() if k != "input_ids"}
    embeds = model.get_input_embeddings()(inputs["input_ids"])
    mask = inputs.get("attention_mask")
    mask = torch.ones(embeds.shape[:-1], dtype=embeds.dtype, device=embeds.device) if mask is None else mask
    return embeds, mask.to(embeds.dtype).unsqueeze(-1), rest


def loss_fn(model: nn.Module, rest: Mapping[str, torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda embeds: model(inputs_embeds=embeds, **rest).loss


def _per_example_norm(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (x.dim() - 1)))


def ascent_direction(grad: torch.Tensor, norm: str, mask: torch.Tensor) -> torch.Tensor:
    """Unit steepest-ascent step: g/||g|| for l2, sign(g) for linf; zero on padding."""
    grad = grad * mask
    if norm == "l2":
        return grad / _per_example_norm(grad)
    return grad.sign()


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Back into the eps-ball: rescale (l2) or clamp (linf)."""
    if norm == "l2":
        factor = (eps / _per_example_norm(delta)).clamp(max=1.0)
        return delta * factor
    return delta.clamp(-eps, eps)


def random_init(embeds: torch.Tensor, mask: torch.Tensor, magnitude: float, norm: str) -> torch.Tensor:
    """A random start inside the ball of radius ``magnitude`` (FreeLB), zero on padding.

    As in FreeLB's official code: each real coordinate uniform in [-1, 1], scaled by
    magnitude / sqrt(real dims) for l2, so ||delta|| <= magnitude (about magnitude/sqrt(3))
    and never normalised onto the sphere; uniform in [-magnitude, magnitude] for linf.
    """
    if magnitude <= 0:
        return torch.zeros_like(embeds)
    noise = (torch.rand_like(embeds) * 2 - 1) * mask
    if norm == "l2":
        dims = (mask.flatten(1).sum(dim=1) * embeds.shape[-1]).clamp_min(1)  # real tokens x hidden
        return noise * (magnitude / dims.sqrt()).view(-1, *([1] * (embeds.dim() - 1)))
    return noise * magnitude


def check_norm(norm: str, key: str) -> str:
    if norm not in NORMS:
        raise ConfigError(f"{key}: unknown norm {norm!r}; use one of {', '.join(NORMS)}")
    return norm


def pgd_delta(
    loss: Callable[[torch.Tensor], torch.Tensor],
    embeds: torch.Tensor,
    mask: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    norm: str,
) -> torch.Tensor:
    """K projected ascent steps on delta (Madry et al.), against detached embeddings: only delta
    gets gradients, so the caller's parameter gradients are untouched. Returns a detached delta."""
    base = embeds.detach()
    delta = torch.zeros_like(base)
    for _ in range(steps):
        delta.requires_grad_(True)
        (grad,) = torch.autograd.grad(loss(base + delta), delta)
        delta = project(delta.detach() + step_size * ascent_direction(grad, norm, mask), eps, norm) * mask
    return delta.detach()
