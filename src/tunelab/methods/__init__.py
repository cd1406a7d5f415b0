"""The method axis: a function that wraps the backbone and decides which weights train.

``apply_method(model, cfg, task)`` returns the model to train; ``task`` is the task object
(``tunelab.tasks``), which says which methods can serve it. ``full`` trains everything; PEFT
methods (peft's LoRA, AdaLoRA, IA3, prefix/prompt tuning, our bottleneck adapters) register
here the same way, so the LightningModule never knows which method is active.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from torch import nn

from tunelab.errors import ConfigError

MethodFn = Callable[[nn.Module, Mapping[str, Any], Any], nn.Module]
_METHODS: dict[str, MethodFn] = {}


def register(name: str) -> Callable[[MethodFn], MethodFn]:
    def deco(fn: MethodFn) -> MethodFn:
        _METHODS[name] = fn
        return fn

    return deco


@register("full")
def full(model: nn.Module, cfg: Mapping[str, Any], task) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(True)
    return model


@register("head_only")
def head_only(model: nn.Module, cfg: Mapping[str, Any], task) -> nn.Module:
    """Linear probing: the backbone is frozen and only the head trains. A head weight tied to the
    backbone (an MLM decoder shares the word embeddings) stays frozen with it, so the encoder the
    probe measures is exactly the one loaded. Used to fit MiniLM's missing MLM head before
    measuring its perplexity (issue 4), and as the cheapest fine-tuning baseline."""
    from tunelab.methods.targets import head_modules

    heads = head_modules(model)
    if not heads:
        raise ConfigError(f"method.name: head_only needs a model with a head; {type(model).__name__} has none")
    backbone = {id(p) for p in getattr(model, model.base_model_prefix).parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    for name in heads:
        for p in getattr(model, name).parameters():
            if id(p) not in backbone:
                p.requires_grad_(True)
    return model


def apply_method(model: nn.Module, cfg: Mapping[str, Any], task) -> nn.Module:
    name = cfg.get("name")
    if name not in _METHODS:
        raise ConfigError(f"method.name: unknown method {name!r}; available: {sorted(_METHODS)}")
    from tunelab import tasks

    task = tasks.get(task)
    task.check_method(name)  # silently training something else would be a wrong result
    return _METHODS[name](model, cfg, task)


# Imported last: adapters.py registers itself with the `register` defined above.
# Methods defined in their own files register themselves on import.
from tunelab.methods import adapters as _adapters  # noqa: E402,F401
from tunelab.methods import peft_methods as _peft_methods  # noqa: E402,F401
