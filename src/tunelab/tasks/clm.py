"""Causal-LM pretraining (GPT-style): every position predicts the next token.

From scratch (``model=gpt2_scratch``) or continued from a pretrained causal LM (``model=smollm2_135m``),
with full fine-tuning or a peft method (``TaskType.CAUSAL_LM``: LoRA, AdaLoRA, IA3, prefix and
prompt tuning). The tokenizer's EOS separates documents (``data.blocks``); a tokenizer without a
pad token (Llama's) pads with EOS, and padding is masked by the attention mask, never by id, so
the real EOS tokens between documents keep their labels.
"""

from __future__ import annotations

from tunelab.data.collate import IGNORE
from tunelab.errors import ConfigError
from tunelab.tasks import register
from tunelab.tasks.base import PretrainingTask

# Methods that cannot serve a causal LM, and why (one line each).
REFUSED = {
    "head_only": "a causal LM's head is its pretrained vocabulary projection (tied to the word embeddings in "
                 "most models), not a fresh head to fit on a frozen body",
    "adapter": "tunelab's bottleneck adapters are placed for BERT-style layers and train the head, which in a "
               "causal LM is tied to the word embeddings",
}


@register
class CausalLM(PretrainingTask):
    name = "clm"
    auto_class = "AutoModelForCausalLM"
    peft_task_type = "CAUSAL_LM"
    methods = frozenset({"full", "lora", "adalora", "ia3", "prefix_tuning", "prompt_tuning"})
    serve_io = "generate"  # POST /generate, streamed
    head_suffixes = ("LMHeadModel",)  # GPT-2-style class names (GPT2LMHeadModel)

    def check_method(self, method: str) -> None:
        if method in REFUSED:
            raise ConfigError(f"method.name: {method} cannot serve clm: {REFUSED[method]}; "
                              f"use one of {', '.join(sorted(self.methods))}")
        super().check_method(method)

    def check_tokenizer(self, tokenizer) -> None:
        """Needs an EOS (the document separator, and the pad token when the tokenizer has none)."""
        if getattr(tokenizer, "eos_token_id", None) is None and getattr(tokenizer, "sep_token_id", None) is None:
            raise ConfigError("model.tokenizer: objective 'clm' needs a tokenizer with an EOS token "
                              "(it separates the documents)")
        ensure_pad_token(tokenizer)

    def collator(self, tokenizer, **_):
        from tunelab.data.lm_collate import CLMCollator

        pad = getattr(tokenizer, "pad_token_id", None)
        return CLMCollator(pad_token_id=pad if pad is not None else getattr(tokenizer, "eos_token_id", None))

    def loss(self, model, batch, head_name):
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        # The model shifts: position t predicts t+1, so the first label of each row is never a target.
        n = int((batch["labels"][:, 1:] != IGNORE).sum())
        return out.loss, n


def ensure_pad_token(tokenizer) -> None:
    """Llama-style tokenizers have no pad token: pad with EOS. Padding is then masked by the
    attention mask (labels -100 where it is 0), not by id: a real EOS keeps its label."""
    if getattr(tokenizer, "pad_token_id", None) is None and getattr(tokenizer, "eos_token", None) is not None:
        tokenizer.pad_token = tokenizer.eos_token
