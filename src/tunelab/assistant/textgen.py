"""Greedy replies for many prompts at once, with the KV cache, and what that cost.

Prompts are rendered exactly as SFT trained on them (``tasks.sft.prompt_ids``) and left-padded
in a batch, so every row's next token sits at the last position; the attention mask hides the
padding (tested: batched replies equal one-at-a-time replies). Greedy decoding is deterministic,
so scores do not depend on a sampling seed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from tunelab.tasks.sft import eos_id, prompt_ids


def _left_pad(rows: list[list[int]], pad: int) -> dict[str, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return {"input_ids": ids, "attention_mask": mask}


@torch.no_grad()
def generate_replies(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 128, batch_size: int = 8,
                     system: str | None = None) -> tuple[list[str], dict]:
    """(replies, stats): stats has new_tokens, seconds, tokens_per_s, batch_size, max_new_tokens."""
    eos = eos_id(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    device = next(model.parameters()).device
    replies: list[str] = []
    new_tokens, started = 0, time.perf_counter()
    for start in range(0, len(prompts), batch_size):
        rows = [prompt_ids(tokenizer, p, system) for p in prompts[start:start + batch_size]]
        batch = {k: v.to(device) for k, v in _left_pad(rows, pad).items()}
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                             eos_token_id=eos, pad_token_id=pad, temperature=None, top_p=None, top_k=None)
        for row in out[:, batch["input_ids"].shape[1]:].tolist():
            # Tokens after the first EOS are padding of rows that finished early.
            row = row[: row.index(eos) + 1] if eos in row else row
            new_tokens += len(row)
            replies.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    seconds = time.perf_counter() - started
    return replies, {"new_tokens": new_tokens, "seconds": seconds, "tokens_per_s": new_tokens / max(seconds, 1e-9),
                     "batch_size": batch_size, "max_new_tokens": max_new_tokens, "prompts": len(prompts)}
