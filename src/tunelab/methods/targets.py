"""Which modules a method touches: the task head, and Linear layers named by suffix.

Target names differ per architecture (BERT: ``query``/``value``; Llama: ``q_proj``/``v_proj``...).
``method.target_modules: auto`` takes the attention projections from ``DEFAULT_TARGETS`` by the
model's ``model_type``; a list that matches nothing is an error that names the candidates and,
for a known architecture, its default.
"""

from __future__ import annotations

from collections.abc import Sequence

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


# LoRA/AdaLoRA targets per model_type for ``target_modules: auto``: BERT-style encoders keep the
# query/value pair of the original LoRA paper (tunelab's method default); decoder LMs take all four
# attention projections (the usual choice for causal-LM LoRA).
_BERT = ["query", "value"]
_DECODER = ["q_proj", "k_proj", "v_proj", "o_proj"]
DEFAULT_TARGETS: dict[str, list[str]] = {
    "bert": _BERT, "roberta": _BERT, "xlm-roberta": _BERT, "electra": _BERT,
    "mpnet": ["q", "v"],
    "llama": _DECODER, "mistral": _DECODER, "qwen2": _DECODER, "qwen3": _DECODER,
    "gemma": _DECODER, "gemma2": _DECODER, "gemma3_text": _DECODER, "gemma3": _DECODER,
}


def model_type(model: nn.Module) -> str | None:
    """``config.model_type`` of a transformers model (through a peft wrapper too), else None."""
    config = getattr(model, "config", None)
    return getattr(config, "model_type", None)


def resolve_targets(model: nn.Module, targets, key: str = "method.target_modules") -> list[str] | None:
    """``auto`` -> the architecture's default list; a list or None (peft's default) as given."""
    if targets is None or not isinstance(targets, str):
        return list(targets) if targets else None
    if targets != "auto":
        return [targets]
    kind = model_type(model)
    if kind not in DEFAULT_TARGETS:
        raise ConfigError(f"{key}: auto has no default for model_type {kind!r}; name them, candidates: "
                          f"{', '.join(linear_suffixes(model))}")
    return list(DEFAULT_TARGETS[kind])


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


def no_match_error(model: nn.Module, targets: Sequence[str], key: str = "method.target_modules",
                   suggest: bool = False) -> ConfigError:
    """``suggest``: name the architecture's ``DEFAULT_TARGETS`` (LoRA-style methods)."""
    kind = model_type(model)
    hint = f"; for {kind}: {key}=[{','.join(DEFAULT_TARGETS[kind])}] (or {key}=auto)" \
        if suggest and kind in DEFAULT_TARGETS else ""
    return ConfigError(f"{key}: {list(targets)} match no Linear layer; candidates: {', '.join(linear_suffixes(model))}{hint}")


def check_targets(model: nn.Module, targets: Sequence[str] | None, key: str = "method.target_modules",
                  suggest: bool = False) -> None:
    if not targets:
        return
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not any(matches(n, targets) for n in names):
        raise no_match_error(model, targets, key, suggest)
