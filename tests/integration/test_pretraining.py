"""Pretraining end to end: tiny models learn a small corpus, export, load fresh, fine-tune."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT
from tests.helpers import ner_overrides, write_synthetic_ner
from tunelab.errors import TunelabError
from tunelab.training import train

SENTENCES = [
    "the patient was treated for breast cancer with chemotherapy",
    "asthma attacks were reduced by inhaled steroids in children",
    "diabetes mellitus is managed with insulin and diet",
    "colon tumour resection was followed by adjuvant therapy",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "train.txt").write_text("\n".join(SENTENCES * 30) + "\n")
    (folder / "valid.txt").write_text("\n".join(SENTENCES * 3) + "\n")
    return folder


def _pretrain(tiny_cfg, corpus, tmp_path, objective, *extra):
    model = "bert_scratch" if objective == "mlm" else "gpt2_scratch"
    dims = (["model.from_scratch.hidden_size=32", "model.from_scratch.num_hidden_layers=1",
             "model.from_scratch.num_attention_heads=2", "model.from_scratch.intermediate_size=64"]
            if objective == "mlm" else
            ["model.from_scratch.n_embd=32", "model.from_scratch.n_layer=1", "model.from_scratch.n_head=2"])
    return train(tiny_cfg(
        "data=pubmed_text", f"data.task={objective}", f"model={model}", "model.train_tokenizer.vocab_size=300", *dims,
        f"paths.data_dir={corpus}", "data.files.train=train.txt", "data.files.validation=valid.txt",
        "data.block_size=32", "data.batch_size=8", f"data.cache_dir={tmp_path / 'cache'}",
        "optimized_mode=min", "optim.lr=3e-3", "optim.warmup_ratio=0.0", f"paths.output_dir={tmp_path}", *extra))


@pytest.mark.parametrize("objective,epochs,bound", [("clm", 15, 3.0), ("mlm", 40, 20.0)])
def test_tiny_model_learns_a_small_corpus(tiny_cfg, corpus, tmp_path, objective, epochs, bound):
    # 4 sentences repeated: a uniform guess over the 300-token vocabulary has perplexity 300;
    # memorising the corpus brings it near 1 for CLM (MLM keeps some ambiguity at masked slots).
    metrics = _pretrain(tiny_cfg, corpus, tmp_path, objective, f"trainer.max_epochs={epochs}",
                        "callbacks.early_stopping.patience=100")
    assert metrics["val/perplexity"] < bound, metrics
    assert (tmp_path / "hf_model" / "config.json").is_file() and (tmp_path / "tokenizer").is_dir()


def test_export_loads_in_a_fresh_process_and_fine_tunes(tiny_cfg, corpus, tmp_path):
    _pretrain(tiny_cfg, corpus, tmp_path / "pre", "mlm", "trainer.max_epochs=2")
    folder = tmp_path / "pre" / "hf_model"
    script = ("from transformers import AutoModelForMaskedLM, AutoTokenizer;"
              f"m = AutoModelForMaskedLM.from_pretrained({str(folder)!r}); t = AutoTokenizer.from_pretrained({str(folder)!r});"
              "print(m(**t('breast cancer', return_tensors='pt')).logits.shape[-1] == len(t))")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip().endswith("True"), proc.stderr[-2000:]
    ner = tmp_path / "ner"
    write_synthetic_ner(ner)
    metrics = train(tiny_cfg(*ner_overrides(ner), f"model.name_or_path={folder}", "model.tokenizer=null",
                             "model.from_scratch=null", "trainer.max_epochs=1", f"paths.output_dir={tmp_path / 'ft'}"))
    assert "test/f1" in metrics
    info = json.loads((tmp_path / "ft" / "run_info.json").read_text())
    assert info["config"]["model"]["name_or_path"] == str(folder)


def test_generate_cli_samples_from_a_clm_run(tiny_cfg, corpus, tmp_path):
    _pretrain(tiny_cfg, corpus, tmp_path, "clm", "trainer.max_epochs=6")
    proc = subprocess.run(
        [sys.executable, "generate.py", f"model_path={tmp_path / 'hf_model'}", "prompt=the patient",
         "temperature=0", "max_new_tokens=8"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().startswith("the patient") and len(proc.stdout.split()) > 2


@pytest.mark.parametrize("text,match", [("\n\n", "corpus has no text"), ("short text\n", "fewer than one block")])
def test_bad_corpora(tiny_cfg, tmp_path, text, match):
    (tmp_path / "train.txt").write_text(text)
    (tmp_path / "valid.txt").write_text(text)
    with pytest.raises(TunelabError, match=match):
        train(tiny_cfg("data=pubmed_text", f"paths.data_dir={tmp_path}", "data.files.train=train.txt",
                       "data.files.validation=valid.txt", f"data.cache_dir={tmp_path / 'cache'}", "debug=fdr",
                       "optimized_mode=min"))


def test_tokenizer_model_vocabulary_mismatch(tiny_cfg, corpus, tmp_path):
    with pytest.raises(TunelabError, match=r"tokenizer has \d+ tokens but the model embeds only 100"):
        train(tiny_cfg("data=pubmed_text", f"paths.data_dir={corpus}", "data.files.train=train.txt",
                       "data.files.validation=valid.txt", f"data.cache_dir={tmp_path / 'cache'}", "debug=fdr",
                       "+model.from_scratch.vocab_size=100", "optimized_mode=min"))


def test_head_only_fits_the_mlm_head_on_a_frozen_encoder(tiny_cfg, corpus, tmp_path):
    # The "before DAPT" perplexity of a checkpoint without an MLM head (MiniLM) needs a fitted head
    # on the untouched encoder: the word embeddings are tied to the decoder and must stay frozen too.
    from transformers import AutoModelForMaskedLM

    _pretrain(tiny_cfg, corpus, tmp_path / "pre", "mlm", "trainer.max_epochs=1")
    folder = tmp_path / "pre" / "hf_model"
    metrics = train(tiny_cfg(
        "data=pubmed_text", "data.task=mlm", f"model.name_or_path={folder}", "model.tokenizer=null",
        "model.from_scratch=null", "method=head_only", f"paths.data_dir={corpus}", "data.files.train=train.txt",
        "data.files.validation=valid.txt", "data.block_size=32", "data.batch_size=8",
        f"data.cache_dir={tmp_path / 'cache'}", "optimized_mode=min", "optim.lr=3e-3", "trainer.max_epochs=2",
        f"paths.output_dir={tmp_path / 'probe'}"))
    assert metrics["val/perplexity"] > 1
    before = AutoModelForMaskedLM.from_pretrained(folder).state_dict()
    after = AutoModelForMaskedLM.from_pretrained(tmp_path / "probe" / "hf_model").state_dict()
    encoder = [k for k in before if k.startswith("bert.")]
    assert encoder and all(torch.equal(before[k], after[k]) for k in encoder)
    head = [k for k in before if k.startswith("cls.") and not k.endswith("decoder.weight")]
    assert any(not torch.equal(before[k], after[k]) for k in head)
    info = json.loads((tmp_path / "probe" / "run_info.json").read_text())
    assert 0 < info["parameters"]["trainable_pct"] < 50


def test_peft_method_on_pretraining_is_an_error(tiny_cfg, corpus, tmp_path):
    with pytest.raises(TunelabError, match="method.name: lora cannot serve mlm; it supports full, head_only"):
        train(tiny_cfg("data=pubmed_text", f"paths.data_dir={corpus}", "data.files.train=train.txt",
                       "data.files.validation=valid.txt", f"data.cache_dir={tmp_path / 'cache'}", "debug=fdr",
                       "method=lora", "optimized_mode=min"))
