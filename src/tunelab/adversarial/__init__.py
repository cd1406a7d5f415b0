"""The adversarial axis: a strategy object the module calls for its training loss.

A strategy gets the model and the batch's model inputs and returns the loss to backpropagate.
``none`` returns the clean loss; FGM, PGD and FreeLB perturb embedding outputs and plug in here.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from tunelab.errors import ConfigError


class NoAdversary:
    """Clean training: the model's own loss."""

    def training_loss(self, model: nn.Module, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return model(**inputs).loss


_STRATEGIES = {"none": NoAdversary}


def build_adversary(cfg: Mapping[str, Any] | None):
    name = (cfg or {}).get("name", "none")
    if name not in _STRATEGIES:
        raise ConfigError(f"adversarial.name: unknown strategy {name!r}; available: {sorted(_STRATEGIES)}")
    kwargs = {k: v for k, v in (cfg or {}).items() if k != "name"}
    return _STRATEGIES[name](**kwargs)
