"""Supervised fine-tuning (SFT) of a causal LM on instruction -> response pairs.

Records: ``{"prompt": str, "response": str, "group": str}`` (``group``: what a seeded split
stratifies on: bitext's intent; medquad's focus entity, whose reader splits by it itself).

Each pair is rendered with the tokenizer's chat template (the same rendering generation uses:
``prompt_ids``), and only the response tokens (and the EOS that closes the turn) carry a label:
the prompt, the system turn and padding are -100, so the loss teaches answering, not asking.
A tokenizer without a chat template (the tiny test BERT) gets a plain "Question:/Answer:" layout.

Packing (``data.encode_options.pack: true``) concatenates short examples into rows of
``max_length`` tokens with position ids that restart at 0 for every example and *no* attention
mask: transformers 5 (masking_utils.find_packed_sequence_indices) then builds a block-diagonal
causal mask from the restarts, so no token attends across an example boundary (tested: a packed
example's logits equal its unpacked ones). The tail of a row is one more "example" of padding with
its own positions, so every row has the same length. Only models whose mask builder honours
position-id restarts (Llama-family decoders in transformers 5) may pack; BERT-style decoders would
attend across examples.

Scored by the loss and perplexity over response tokens of the whole split (not a mean of
batch perplexities); generation quality (ROUGE-L, BLEU) is ``tunelab.assistant``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from tunelab.data.collate import IGNORE
from tunelab.errors import ConfigError, DataError
from tunelab.metrics.perplexity import Perplexity
from tunelab.tasks import register
from tunelab.tasks.base import SupervisedTask
from tunelab.tasks.clm import REFUSED, ensure_pad_token

# The layout used when the tokenizer has no chat template (a plain LM, the tiny test models).
PLAIN_PROMPT = "Question: {prompt}\nAnswer: "


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def prompt_text(tokenizer, prompt: str, system: str | None = None) -> str:
    """The prompt as the model sees it: a user turn with the assistant's turn opened."""
    if not has_chat_template(tokenizer):
        return PLAIN_PROMPT.format(prompt=prompt)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def prompt_ids(tokenizer, prompt: str, system: str | None = None) -> list[int]:
    """Token ids of ``prompt_text``: what training conditions on and generation starts from."""
    return tokenizer(prompt_text(tokenizer, prompt, system), add_special_tokens=False)["input_ids"]


def eos_id(tokenizer) -> int:
    eos = getattr(tokenizer, "eos_token_id", None)
    eos = eos if eos is not None else getattr(tokenizer, "sep_token_id", None)
    if eos is None:
        raise ConfigError("model.tokenizer: SFT needs a tokenizer with an EOS (or SEP) token to end a reply")
    return int(eos)


def pair_ids(tokenizer, prompt: str, response: str, system: str | None = None) -> tuple[list[int], list[int]]:
    """(prompt ids, response ids ending with EOS) of one pair, rendered by the chat template.

    The whole conversation is rendered once and cut where the prompt rendering ends, so the
    response part is exactly what the template puts after the opened assistant turn (a template
    that rendered the two differently is refused, not silently mislabelled).
    """
    head = prompt_text(tokenizer, prompt, system)
    if has_chat_template(tokenizer):
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        if not full.startswith(head):
            raise ConfigError("model.tokenizer: its chat template renders the prompt differently inside a "
                              "conversation; SFT cannot tell the prompt from the response")
        rest = full[len(head):]
    else:
        rest = response
    eos = eos_id(tokenizer)
    tail = tokenizer(rest, add_special_tokens=False)["input_ids"]
    # Learn to stop: the reply ends at the template's EOS (<|im_end|>); what the template puts after
    # it (a newline) is never generated, so it gets no label.
    tail = tail[: tail.index(eos) + 1] if eos in tail else tail + [eos]
    return prompt_ids(tokenizer, prompt, system), tail


def encode_pair(tokenizer, record: Mapping[str, Any], max_length: int, system: str | None = None) -> dict | None:
    """input_ids / attention_mask / labels (prompt -100) and ``truncated``; None if no response
    token fits (the prompt alone fills ``max_length``)."""
    head, tail = pair_ids(tokenizer, record["prompt"], record["response"], system)
    if len(head) >= max_length:
        return None
    ids = (head + tail)[:max_length]
    labels = [IGNORE] * len(head) + tail[: max_length - len(head)]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels,
            "truncated": int(len(head) + len(tail) > max_length)}


def pack_rows(items: list[dict], max_length: int, pad_id: int) -> list[dict]:
    """Greedy packing in order into rows of exactly ``max_length`` tokens.

    Position ids restart at 0 for each example (and for the padding tail), the attention mask is
    dropped: the model's mask builder makes the attention block-diagonal from the restarts. The
    first label of every segment is a prompt token (-100), so no loss crosses a boundary either.
    """
    rows: list[dict] = []
    cur: dict[str, list[int]] = {"input_ids": [], "position_ids": [], "labels": []}
    cut = 0

    def close() -> None:
        nonlocal cur, cut
        fill = max_length - len(cur["input_ids"])
        cur["input_ids"] += [pad_id] * fill
        cur["position_ids"] += list(range(fill))
        cur["labels"] += [IGNORE] * fill
        rows.append({**cur, "truncated": cut})
        cur = {"input_ids": [], "position_ids": [], "labels": []}
        cut = 0

    for it in items:
        if cur["input_ids"] and len(cur["input_ids"]) + len(it["input_ids"]) > max_length:
            close()
        cur["input_ids"] += it["input_ids"]
        cur["position_ids"] += list(range(len(it["input_ids"])))
        cur["labels"] += it["labels"]
        cut += it["truncated"]
    if cur["input_ids"]:
        close()
    return rows


class ResponseNLL(Perplexity):
    """Loss and perplexity over the response tokens of a whole split: exp(sum NLL / tokens)."""

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        # Position t predicts token t+1, as in the model's own loss.
        logits, labels = logits[:, :-1].float(), labels[:, 1:]
        n = (labels != IGNORE).sum()
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE, reduction="sum")
        super().update(nll.double() / n.clamp_min(1), n)

    def compute(self) -> dict[str, torch.Tensor]:
        out = super().compute()
        return {"response_loss": out["loss"], "perplexity": out["perplexity"]}

    def report(self) -> dict[str, float]:
        values = self.compute()
        return {k: float(v) for k, v in values.items()} | {"tokens": int(self.tokens)}


@register
class InstructionTuning(SupervisedTask):
    name = "sft"
    record_keys = ("prompt", "response")
    stratify_key = "group"
    auto_class = "AutoModelForCausalLM"
    peft_task_type = "CAUSAL_LM"
    methods = frozenset({"full", "lora", "adalora", "ia3", "prefix_tuning", "prompt_tuning"})
    metric_names = ("response_loss", "perplexity")
    default_monitor = "val/perplexity"
    truncation_note = "the response was cut at max_length (its end is never learned)"
    serve_io = "generate"
    serve_default_for_head = False  # a causal-LM head serves as clm unless the run says sft
    # Builds a causal LM (tunelab.models.backbone.build_lm_model) and exports <run>/hf_model.
    generative = True
    encode_options = {"pack": "true|false: pack short examples into max_length rows",
                      "system": "a system turn before every prompt (default: the template's own)"}

    def check_method(self, method: str) -> None:
        if method in REFUSED:
            raise ConfigError(f"method.name: {method} cannot serve sft: {REFUSED[method]}; "
                              f"use one of {', '.join(sorted(self.methods))}")
        super().check_method(method)

    # No label vocabulary: the targets are the responses themselves.
    def labels_of(self, record):
        return []

    def check_known(self, names, splits, files) -> None:
        return None

    def check_records(self, splits, origin: str) -> None:
        super().check_records(splits, origin)
        for split, records in splits.items():
            for i, rec in enumerate(records):
                if not str(rec["prompt"]).strip() or not str(rec["response"]).strip():
                    raise DataError(f"{origin}: record {i + 1} of split {split!r} has an empty prompt or response")

    def encode(self, records, tokenizer, label2id, max_length, pack: bool = False, system: str | None = None):
        ensure_pad_token(tokenizer)  # Llama-style tokenizers pad with EOS (labels -100 there)
        items = [e for e in (encode_pair(tokenizer, r, max_length, system) for r in records) if e is not None]
        dropped = len(records) - len(items)
        if dropped:
            import logging

            logging.getLogger(__name__).warning("sft: %d examples dropped: the prompt alone fills max_length=%d",
                                                dropped, max_length)
        if pack:
            return pack_rows(items, max_length, tokenizer.pad_token_id)
        return items

    def metric(self, label_names):
        return ResponseNLL()

    def metric_inputs(self, logits, batch, label_names):
        return logits, batch["labels"]

    def records_from_hub(self, dataset, columns, label_names):
        cols = {"prompt": "prompt", "response": "response", "group": None, **dict(columns)}
        return [{"prompt": str(row[cols["prompt"]]), "response": str(row[cols["response"]]),
                 "group": str(row[cols["group"]]) if cols["group"] else ""} for row in dataset]
