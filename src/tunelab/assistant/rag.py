"""Retrieval-augmented prompts: the top-k retrieved answers of similar past questions go into the
user turn before the new question, so the model can copy the matching answer template (slots
like ``{{Order Number}}`` included) instead of inventing one."""

from __future__ import annotations

from collections.abc import Sequence

HEADER = "Answers to similar customer questions:"


def rag_prompt(question: str, retrieved: Sequence[dict], k: int | None = None) -> str:
    """The user turn: numbered retrieved answers, then the question. No retrieval: the question."""
    shown = list(retrieved)[:k] if k is not None else list(retrieved)
    if not shown:
        return question
    lines = [HEADER] + [f"[{i}] {r['response']}" for i, r in enumerate(shown, 1)]
    return "\n".join(lines) + f"\n\nQuestion: {question}"
