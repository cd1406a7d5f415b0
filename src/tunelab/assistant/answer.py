"""One reply to one question (assist.py): retrieve, build the prompt, generate greedily."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from tunelab.errors import ConfigError


def answer(cfg: Mapping[str, Any]) -> dict:
    """{"reply", "retrieved": [{prompt, response, group, score}]} for ``cfg["question"]``."""
    from tunelab.assistant.rag import rag_prompt
    from tunelab.assistant.textgen import generate_replies
    from tunelab.generation import load

    # "???" is Hydra's mark of a value the command line did not give.
    if str(cfg.get("model_path") or "???") == "???":
        raise ConfigError("model: required; pass model=<sft run, its hf_model, or a zoo name such as smollm2_135m>")
    question = str(cfg.get("question") or "").strip()
    if not question or question == "???":
        raise ConfigError("question: empty; pass question=\"...\"")
    k = int(cfg.get("k", 2))
    if k < 1:
        raise ConfigError(f"k: must be >= 1, got {k}")
    torch.set_num_threads(int(cfg.get("threads", 1)))
    retrieved: list[dict] = []
    if cfg.get("index"):
        from tunelab.assistant.retrieval import Index, embedder_for, retrieve

        index = Index.load(str(cfg["index"]))
        retrieved = retrieve(index, embedder_for(index), [question], k=k)[0]
    tokenizer, model = load(str(cfg["model_path"]))
    (reply,), _ = generate_replies(model, tokenizer, [rag_prompt(question, retrieved)],
                                   int(cfg.get("max_new_tokens", 256)), 1)
    return {"reply": reply, "retrieved": retrieved}
