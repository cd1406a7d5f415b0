"""The forward pass behind one small interface, so the predictor does not care what runs it.

A backend has ``name``, ``device`` and ``logits(batch) -> torch.Tensor`` (float32, on the CPU) for
a padded batch of ``input_ids``/``attention_mask``/``token_type_ids`` tensors. ``pytorch`` wraps
the Hugging Face model; another backend (ONNX Runtime) registers a loader under its own name with
``register`` and is chosen by ``serve.py backend=<name>`` / ``predict.py backend=<name>``.
"""

from __future__ import annotations

import inspect
from typing import Callable, Mapping

from tunelab.errors import ConfigError

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")

# name -> loader(spec, device) -> backend
_BACKENDS: dict[str, Callable] = {}


def register(name: str, loader: Callable) -> None:
    _BACKENDS[name] = loader


def names() -> list[str]:
    return sorted(_BACKENDS)


def check(name: str) -> None:
    if name not in _BACKENDS:
        raise ConfigError(f"backend: unknown backend {name!r}; known: {', '.join(names())}")


def load(name: str, spec, device: str = "cpu"):
    check(name)
    return _BACKENDS[name](spec, device)


class TorchBackend:
    name = "pytorch"

    def __init__(self, model, device: str = "cpu") -> None:
        import torch

        self.torch = torch
        self.device = device
        self.model = model.to(device).eval()
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        accepted = set(inspect.signature(base.forward).parameters)
        # A decoder has no token_type_ids; pass only what the model's forward takes.
        self.input_names = tuple(k for k in INPUT_NAMES if k in accepted)

    def logits(self, batch: Mapping[str, "torch.Tensor"]):
        inputs = {k: batch[k].to(self.device) for k in self.input_names if k in batch}
        with self.torch.inference_mode():
            return self.model(**inputs).logits.float().cpu()


def _load_torch(spec, device: str) -> TorchBackend:
    from tunelab.serving.loading import load_model

    return TorchBackend(load_model(spec), device)


register("pytorch", _load_torch)
