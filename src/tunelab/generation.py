"""Sampling from a causal-LM folder (a clm pretraining run's hf_model, or any causal LM)."""

from __future__ import annotations

from typing import Any, Mapping

import torch

from tunelab.errors import ConfigError
from tunelab.models.backbone import resolve_source


def generate(model_path: str, prompts: list[str], sampling: Mapping[str, Any], seed: int = 0) -> list[str]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_source(model_path, "model_path")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source).eval()
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"model_path: {model_path!r} is not a causal LM folder: {first}") from exc
    torch.manual_seed(seed)
    temperature = float(sampling.get("temperature", 1.0))
    kwargs = dict(
        max_new_tokens=int(sampling.get("max_new_tokens", 50)),
        do_sample=temperature > 0,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    )
    if temperature > 0:  # temperature 0 means greedy decoding
        kwargs.update(temperature=temperature, top_k=int(sampling.get("top_k", 50)), top_p=float(sampling.get("top_p", 1.0)))
    out = []
    for prompt in prompts:
        enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            ids = model.generate(**enc, **kwargs)
        out.append(tokenizer.decode(ids[0], skip_special_tokens=True))
    return out
