"""The assistant's commands end to end on the real Bitext data with tiny models: evaluate (RAG,
reply intent, samples, metrics), assist's answer, and an intent judge served by the Predictor."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SHARED, needs_shared
from tests.serving_helpers import save_tiny_head
from tests.unit.test_clm_pretrained import _llama
from tests.unit.test_sft_task import _chat_tokenizer


@pytest.fixture
def tiny_lm(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELAB_DATA_DIR", str(SHARED))
    tok = _chat_tokenizer()
    tok.pad_token = tok.eos_token
    folder = tmp_path / "lm"
    _llama(len(tok), max_positions=512).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@needs_shared
def test_evaluate_with_retrieval_and_an_intent_judge(tiny_lm, tmp_path):
    from tunelab.assistant.answer import answer
    from tunelab.assistant.data import split_records
    from tunelab.assistant.evaluate import evaluate, parse
    from tunelab.assistant.retrieval import Embedder, Index

    train = split_records("bitext_sft", "train")
    test = split_records("bitext_sft", "test")
    assert len(train) == 3609 and len(test) == 450 and "{{" in train[0]["response"]
    index = Index.build(train[:30], Embedder()).save(tmp_path / "idx.pt")
    intents = sorted({r["intent"] for r in train})
    judge = save_tiny_head(tmp_path / "judge", "sequence_classification", intents)
    out = tmp_path / "eval"
    metrics = evaluate(parse(["--model", str(tiny_lm), "--data", "bitext_sft", "--out", str(out), "--cap", "3",
                              "--max-new-tokens", "4", "--batch-size", "2", "--index", str(index), "--k", "2",
                              "--intent-model", str(judge), "--samples", "2"]))
    assert metrics["n"] == 3 and 0 <= metrics["rouge_l"] <= 1 and 0 <= metrics["intent_acc"] <= 1
    assert metrics["decoding"] == {"greedy": True, "max_new_tokens": 4, "kv_cache": True, "batch_size": 2, "rag_k": 2}
    assert 0 < metrics["generation"]["new_tokens"] <= 12
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and len(rows[0]["retrieved"]) == 2 and rows[0]["predicted_intent"] in intents
    assert len((out / "replies.jsonl").read_text().splitlines()) == 3
    assert json.loads((out / "metrics.json").read_text())["n"] == 3
    got = answer({"model_path": str(tiny_lm), "question": "how do I cancel my order", "index": str(index),
                  "k": 2, "max_new_tokens": 4})
    assert isinstance(got["reply"], str) and len(got["retrieved"]) == 2


@needs_shared
def test_packed_sft_trains_a_llama_end_to_end_and_exports_with_the_cache_on(tiny_cfg, tmp_path):
    """data.encode_options.pack on a tiny from-scratch Llama: packed rows (position ids, no attention
    mask) reach the model through FineTuneModule; training ran without a KV cache, the export has it."""
    from tunelab import builders
    from tunelab.training import train

    cfg = tiny_cfg("+experiment=sft_bitext", "debug=fdr", "data.encode_options.pack=true", "data.max_length=256",
                   "model.from_scratch.model_type=llama", "+model.from_scratch.num_key_value_heads=2")
    tokenizer = builders.build_tokenizer_from(cfg)
    dm = builders.build_datamodule(cfg, tokenizer)
    module = builders.build_module(cfg, dm, tokenizer)
    assert type(module.model).__name__ == "LlamaForCausalLM" and module.model.config.use_cache is False
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert "attention_mask" not in batch and batch["position_ids"].shape == batch["input_ids"].shape == (8, 256)
    assert (batch["position_ids"] == 0).sum(1).min() >= 2  # several examples per row
    metrics = train(cfg)
    assert metrics["val/perplexity"] > 1
    exported = json.loads((tmp_path / "hf_model" / "config.json").read_text())
    assert exported["model_type"] == "llama" and exported["use_cache"] is True
