"""The adversarial axis: a strategy object the module calls for its training loss.

A strategy gets the model and the batch's model inputs and returns the loss to backpropagate.
``none`` returns the clean loss; FGM, PGD and FreeLB (strategies.py) perturb embedding outputs.
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


def _strategies() -> dict:
    from tunelab.adversarial.strategies import FGM, PGD, FreeLB

    return {"none": NoAdversary, "fgm": FGM, "pgd": PGD, "freelb": FreeLB}


def build_adversary(cfg: Mapping[str, Any] | None):
    name = (cfg or {}).get("name", "none")
    strategies = _strategies()
    if name not in strategies:
        raise ConfigError(f"adversarial.name: unknown strategy {name!r}; available: {sorted(strategies)}")
    kwargs = {k: v for k, v in (cfg or {}).items() if k != "name"}
    try:
        return strategies[name](**kwargs)
    except TypeError as exc:  # an unknown knob: name it instead of a Python signature error
        raise ConfigError(f"adversarial: bad option for {name}: {exc}") from exc
