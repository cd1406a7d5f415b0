"""Which modules a method touches: the task head, and Linear layers named by suffix."""

from __future__ import annotations

from typing import Sequence

from torch import nn

from tunelab.errors import ConfigError


def head_modules(model: nn.Module) -> list[str]:
    """Top-level children outside the backbone that hold weights: the task head (e.g. classifier).

    The pooler lives inside the backbone (``bert.pooler``) and is not part of the head. A bare
    base model (e.g. BertModel) has no head.
    """
    prefix = getattr(model, "base_model_prefix", "")
    children = dict(model.named_children())
    if not prefix or prefix not in children:
        return []
    return [n for n, c in children.items() if n != prefix and any(True for _ in c.parameters())]


def matches(name: str, targets: Sequence[str]) -> bool:
    """peft's rule: a target names a module fully or as a dotted suffix ("output.dense")."""
    return any(name == t or name.endswith("." + t) for t in targets)


def linear_suffixes(model: nn.Module) -> list[str]:
    """Distinct Linear names inside a layer (``attention.self.query``, ``output.dense``...)."""
    out = set()
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            parts = name.split(".")
            idx = [i for i, p in enumerate(parts) if p.isdigit()]
            out.add(".".join(parts[idx[-1] + 1 :]) if idx else name)
    return sorted(out)


def no_match_error(model: nn.Module, targets: Sequence[str], key: str = "method.target_modules") -> ConfigError:
    return ConfigError(f"{key}: {list(targets)} match no Linear layer; candidates: {', '.join(linear_suffixes(model))}")


def check_targets(model: nn.Module, targets: Sequence[str] | None, key: str = "method.target_modules") -> None:
    if not targets:
        return
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not any(matches(n, targets) for n in names):
        raise no_match_error(model, targets, key)
