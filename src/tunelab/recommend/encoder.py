"""A bare Hugging Face text encoder (no task head) shaped by the method axis.

Recommendation has no ``tasks`` entry (its heads are its own: a projection, a score), so the
encoder is loaded with ``AutoModel`` here: from a folder or ``pkg:`` spec, or from scratch
(``model=tiny`` in tests). Methods: ``full``, ``lora`` and ``adapter`` as in continual learning
(``tunelab.continual.net.apply_encoder_method``), and ``head_only``: the encoder frozen, only the
heads outside it train (the "frozen" item tower).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from tunelab.errors import ConfigError

METHODS = ("full", "lora", "adapter", "head_only")


def build_encoder(model_cfg: Mapping[str, Any], tokenizer) -> tuple[nn.Module, int]:
    import transformers

    from tunelab.models.backbone import _from_pretrained, resolve_source, scratch_config

    if model_cfg.get("from_scratch"):
        model = transformers.AutoModel.from_config(scratch_config(model_cfg["from_scratch"], tokenizer))
    else:
        if not model_cfg.get("name_or_path"):
            raise ConfigError("model.name_or_path: the item tower needs a text encoder (e.g. model=minilm)")
        model = _from_pretrained(transformers.AutoModel, resolve_source(model_cfg["name_or_path"]),
                                 "model.name_or_path")
    if getattr(model, "pooler", None) is not None:
        model.pooler = None  # mean pooling or the first token is used instead: the pooler would never train
    return model, int(model.config.hidden_size)


def apply_method(encoder: nn.Module, method: Mapping[str, Any]) -> nn.Module:
    name = method.get("name")
    if name not in METHODS:
        raise ConfigError(f"method.name: a recommendation text encoder takes {', '.join(METHODS)}, not {name!r}")
    if name == "head_only":
        for p in encoder.parameters():
            p.requires_grad_(False)
        return encoder
    from tunelab.continual.net import apply_encoder_method

    return apply_encoder_method(encoder, method)


def trains(encoder: nn.Module) -> bool:
    return any(p.requires_grad for p in encoder.parameters())
