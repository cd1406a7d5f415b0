"""Causal-LM pretraining (GPT-style): every position predicts the next token."""

from __future__ import annotations

from tunelab.tasks import register
from tunelab.tasks.base import PretrainingTask


@register
class CausalLM(PretrainingTask):
    name = "clm"
    auto_class = "AutoModelForCausalLM"

    def collator(self, tokenizer, **_):
        from tunelab.data.lm_collate import CLMCollator

        return CLMCollator()

    def loss(self, model, batch, head_name):
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        ids = batch["input_ids"]
        return out.loss, ids.shape[0] * (ids.shape[1] - 1)  # the model shifts: L-1 targets per block
