"""The forward pass behind one small interface, so the predictor does not care what runs it.

A backend has ``name``, ``device`` and ``logits(batch) -> torch.Tensor`` (float32, on the CPU) for
a padded batch of ``input_ids``/``attention_mask``/``token_type_ids`` tensors. ``pytorch`` wraps
the Hugging Face model; ``onnx`` (``onnx_backend``) runs an ONNX export in ONNX Runtime. A backend
registers a loader under its name with ``register`` (and, optionally, a ``validate(spec)`` that the
main process runs through ``check(name, spec)`` before any worker loads) and is chosen by
``serve.py backend=<name>`` / ``predict.py backend=<name>``.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable, Mapping

from tunelab.errors import ConfigError

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")

# name -> loader(spec, device) -> backend
_BACKENDS: dict[str, Callable] = {}
# name -> validate(spec): raises a one-line ConfigError if that backend cannot serve spec
_VALIDATORS: dict[str, Callable] = {}


def register(name: str, loader: Callable, validate: Callable | None = None) -> None:
    _BACKENDS[name] = loader
    if validate is not None:
        _VALIDATORS[name] = validate


def names() -> list[str]:
    return sorted(_BACKENDS)


def check(name: str, spec=None) -> None:
    """``name`` is a backend; with ``spec``, also one that can serve it (cheap: no model is loaded)."""
    if name not in _BACKENDS:
        raise ConfigError(f"backend: unknown backend {name!r}; known: {', '.join(names())}")
    if spec is not None and name in _VALIDATORS:
        _VALIDATORS[name](spec)


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


_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")


def _check_torch(spec) -> None:
    folder = Path(spec.path)
    if spec.kind == "folder" and (folder / "model.onnx").is_file() and not any((folder / w).is_file() for w in _WEIGHTS):
        raise ConfigError(f"backend=pytorch: {folder} is an ONNX export (model.onnx, no PyTorch weights); "
                          f"serve it with backend=onnx, or serve {folder.parent / 'model'} with backend=pytorch")


def _load_torch(spec, device: str) -> TorchBackend:
    from tunelab.serving.loading import load_model

    _check_torch(spec)
    return TorchBackend(load_model(spec), device)


def _check_onnx(spec) -> None:
    from tunelab.serving import onnx_backend

    onnx_backend.check(spec)


def _load_onnx(spec, device: str):
    from tunelab.serving import onnx_backend  # onnxruntime is an optional extra: imported on use

    return onnx_backend.load(spec, device)


register("pytorch", _load_torch, _check_torch)
register("onnx", _load_onnx, _check_onnx)
