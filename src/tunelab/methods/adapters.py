"""Bottleneck adapters (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP").

peft has no classic adapters, so they live here. A small down/up projection with a residual is
inserted after each targeted projection; the backbone is frozen and only the adapters, the
LayerNorms (Houlsby train them too) and the task head learn. ``up`` starts at exactly zero, so a
freshly adapted model computes the same function as the pretrained one.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from tunelab.errors import ConfigError
from tunelab.methods import register
from tunelab.methods.targets import head_modules as default_heads
from tunelab.methods.targets import matches, no_match_error

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh}
_CFG_KEYS = {"name", "bottleneck", "target_modules", "activation", "dropout", "train_layer_norm",
             "head_modules"}


class BottleneckAdapter(nn.Module):
    """``x + up(act(down(x)))``: a residual bottleneck that is the identity at initialisation."""

    def __init__(self, hidden: int, bottleneck: int = 64, activation: str = "gelu",
                 dropout: float = 0.0) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"method.activation: unknown activation {activation!r}; "
                              f"available: {sorted(_ACTIVATIONS)}")
        if not isinstance(bottleneck, int) or isinstance(bottleneck, bool) or bottleneck < 1:
            raise ConfigError(f"method.bottleneck: must be a positive integer, got {bottleneck!r}")
        self.down = nn.Linear(hidden, bottleneck)
        self.act = _ACTIVATIONS[activation]()
        self.up = nn.Linear(bottleneck, hidden)
        self.dropout = nn.Dropout(dropout)
        # Houlsby use a near-identity init; exact zeros make the branch contribute nothing at
        # step 0 (pretrained outputs unchanged, testably) while `down` still gets gradients
        # through `up` once `up` moves off zero after the first step.
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.up(self.act(self.down(x))))


class AdapterLinear(nn.Module):
    """A frozen ``nn.Linear`` followed by an adapter: ``adapter(base(x))``.

    In HF BERT-style layers, ``attention.output.dense`` and ``output.dense`` are followed by
    dropout and ``LayerNorm(h + residual)``. Wrapping the dense therefore puts the adapter after
    the projection and before the skip connection, which is exactly Houlsby's placement.
    """

    def __init__(self, base: nn.Linear, adapter: BottleneckAdapter) -> None:
        super().__init__()
        self.base = base
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.base(x))


def _is_layer_norm(module: nn.Module) -> bool:
    # Some architectures ship their own LayerNorm/RMSNorm classes instead of nn.LayerNorm.
    cls = type(module).__name__.lower()
    return isinstance(module, nn.LayerNorm) or cls.endswith("layernorm") or cls.endswith("rmsnorm")


def add_adapters(model: nn.Module, bottleneck: int = 64,
                 target_modules: Sequence[str] = ("attention.output.dense", "output.dense"),
                 activation: str = "gelu", dropout: float = 0.0, train_layer_norm: bool = True,
                 head_modules: Sequence[str] | None = None) -> nn.Module:
    """Wrap every ``nn.Linear`` whose name ends with a target in an adapter; freeze the rest.

    Trainable afterwards: adapter parameters, LayerNorms (if ``train_layer_norm``) and the head
    (``head_modules``, default: the model's top-level children other than the base model, so
    the ``pooler`` inside the base model stays frozen). Modifies ``model`` in place and returns it.
    """
    # A bare string would otherwise be iterated character by character.
    targets = (target_modules,) if isinstance(target_modules, str) else tuple(map(str, target_modules))

    # Collect first, replace after: mutating the tree while named_modules() walks it is unsafe.
    # Skip anything already inside an AdapterLinear so a second call never wraps twice.
    inside = set()
    for name, mod in model.named_modules():
        if isinstance(mod, AdapterLinear):
            inside.update(f"{name}.{sub}" if sub else name for sub, _ in mod.named_modules())
    found = [(n, m) for n, m in model.named_modules()
             if isinstance(m, nn.Linear) and n not in inside and matches(n, targets)]
    if not found:
        raise no_match_error(model, targets)

    for name, linear in found:
        adapter = BottleneckAdapter(linear.out_features, bottleneck, activation, dropout)
        # Match the backbone's device/dtype so the model runs where it already lives.
        adapter.to(device=linear.weight.device, dtype=linear.weight.dtype)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, AdapterLinear(linear, adapter))

    # Freeze everything, then reopen only what the method trains.
    for p in model.parameters():
        p.requires_grad_(False)
    for mod in model.modules():
        if isinstance(mod, BottleneckAdapter) or (train_layer_norm and _is_layer_norm(mod)):
            for p in mod.parameters():
                p.requires_grad_(True)

    if head_modules is None:
        head_modules = default_heads(model)
    elif isinstance(head_modules, str):
        head_modules = [head_modules]
    for name in head_modules:
        try:
            head = model.get_submodule(str(name))
        except AttributeError:
            raise ConfigError(f"method.head_modules: no module {name!r} in the model; top-level "
                              f"modules: {[n for n, _ in model.named_children()]}") from None
        for p in head.parameters():
            p.requires_grad_(True)
    return model


@register("adapter")
def adapter(model: nn.Module, cfg: Mapping[str, Any], task) -> nn.Module:
    # Reject typos ("bottle_neck") instead of silently training with the default.
    unknown = sorted(set(cfg) - _CFG_KEYS)
    if unknown:
        raise ConfigError(f"method: unknown key(s) {unknown} for adapter; known: {sorted(_CFG_KEYS)}")
    # Lists pass through as-is (add_adapters also accepts a bare string or an OmegaConf ListConfig).
    return add_adapters(
        model,
        bottleneck=cfg.get("bottleneck", 64),
        target_modules=cfg.get("target_modules", ("attention.output.dense", "output.dense")),
        activation=cfg.get("activation", "gelu"),
        dropout=float(cfg.get("dropout", 0.0)),
        train_layer_norm=bool(cfg.get("train_layer_norm", True)),
        head_modules=cfg.get("head_modules"),
    )
