"""Masked-LM pretraining (BERT-style): dynamic 15% masking, loss at the masked positions only.

The vocabulary projection (30522-way for MiniLM: most of the compute) runs only at the ~15%
masked positions: the backbone's hidden states are gathered there and the MLM head is applied to
those alone, when the model has a single head module that maps hidden states to logits.
"""

from __future__ import annotations

import torch.nn.functional as F

from tunelab.data.collate import IGNORE
from tunelab.errors import ConfigError
from tunelab.tasks import register
from tunelab.tasks.base import PretrainingTask


@register
class MaskedLM(PretrainingTask):
    name = "mlm"
    auto_class = "AutoModelForMaskedLM"
    serve_io = None
    serve_refusal = "a masked LM only fills in masks: fine-tune it for a task and serve that run"

    def check_tokenizer(self, tokenizer) -> None:
        if getattr(tokenizer, "mask_token_id", None) is None:
            raise ConfigError("model.tokenizer: objective 'mlm' needs a tokenizer with a mask token")

    def collator(self, tokenizer, mlm_probability: float = 0.15, whole_word_mask: bool = False, **_):
        from tunelab.data.lm_collate import MLMCollator

        return MLMCollator(tokenizer, float(mlm_probability), bool(whole_word_mask))

    def logits_head(self, model) -> str | None:
        from tunelab.methods.targets import head_modules

        heads = head_modules(model)
        return heads[0] if len(heads) == 1 else None

    def loss(self, model, batch, head_name):
        labels = batch["labels"]
        selected = labels != IGNORE
        n = int(selected.sum())
        if head_name is None:
            return model(**batch).loss, n
        base = getattr(model, model.base_model_prefix)
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        hidden = base(**inputs).last_hidden_state
        logits = getattr(model, head_name)(hidden[selected])
        return F.cross_entropy(logits.float(), labels[selected]), n
