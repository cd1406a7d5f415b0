"""PEFT methods end to end on a tiny 'pretrained' BERT folder (the same path MiniLM takes)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT
from tests.helpers import ner_overrides
from tunelab import builders
from tunelab.evaluation import evaluate, load_checkpoint
from tunelab.export import export
from tunelab.training import train

PEFT_NER = ["head_only", "lora", "adalora", "ia3", "prefix_tuning", "adapter"]


def _overrides(tiny_folder, synthetic, method, *extra):
    return [*ner_overrides(synthetic), f"method={method}", f"model.name_or_path={tiny_folder}",
            "model.tokenizer=null", "model.from_scratch=null", *extra]


@pytest.mark.parametrize("method", PEFT_NER)
def test_only_adapter_and_head_train_and_frozen_weights_stay_bitwise(method, tiny_cfg, tiny_folder, synthetic):
    cfg = tiny_cfg(*_overrides(tiny_folder, synthetic, method, "trainer.max_epochs=1"))
    tok = builders.build_tokenizer_from(cfg)
    dm = builders.build_datamodule(cfg, tok)
    module = builders.build_module(cfg, dm, tok)
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach().clone() for n, p in module.model.named_parameters() if not p.requires_grad}
    assert trainable and frozen
    assert any("classifier" in n for n in trainable), "the task head must train"
    backbone_trainable = [n for n in trainable if "classifier" not in n and not any(
        k in n for k in ("lora_", "ia3_", "prompt_encoder", "adapter", "LayerNorm"))]
    assert backbone_trainable == [], backbone_trainable
    if method != "adapter":
        assert not any("LayerNorm" in n for n in trainable)
    dm.setup("fit")
    opt = torch.optim.AdamW([p for p in module.model.parameters() if p.requires_grad], lr=1e-2)
    before = {n: p.detach().clone() for n, p in module.model.named_parameters() if p.requires_grad}
    module.train()
    for batch, _ in zip(dm.train_dataloader(), range(3)):
        loss = module.model(**module.model_inputs(batch)).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    for name, p in module.model.named_parameters():
        if name in frozen:
            assert torch.equal(p, frozen[name]), f"frozen {name} changed"
    assert any(not torch.equal(p, before[n]) for n, p in module.model.named_parameters() if n in before)


def test_prompt_tuning_refuses_token_classification(tiny_cfg, tiny_folder, synthetic):
    from tunelab.errors import ConfigError

    cfg = tiny_cfg(*_overrides(tiny_folder, synthetic, "prompt_tuning"))
    tok = builders.build_tokenizer_from(cfg)
    dm = builders.build_datamodule(cfg, tok)
    with pytest.raises(ConfigError, match=r"prompt_tuning cannot serve token_classification"):
        builders.build_module(cfg, dm, tok)


def test_target_modules_that_match_nothing_list_candidates(tiny_cfg, tiny_folder, synthetic):
    from tunelab.errors import ConfigError

    cfg = tiny_cfg(*_overrides(tiny_folder, synthetic, "lora", "method.target_modules=[q_proj,v_proj]"))
    tok = builders.build_tokenizer_from(cfg)
    dm = builders.build_datamodule(cfg, tok)
    with pytest.raises(ConfigError, match=r"method.target_modules: \['q_proj', 'v_proj'\] match no Linear layer; candidates: .*attention.self.query"):
        builders.build_module(cfg, dm, tok)


def test_lora_checkpoint_holds_only_adapter_and_head_and_round_trips(tiny_cfg, tiny_folder, synthetic, tmp_path):
    run = tmp_path / "run"
    metrics = train(tiny_cfg(*_overrides(tiny_folder, synthetic, "lora", "trainer.max_epochs=2"), f"paths.output_dir={run}"))
    ckpt_path = next((run / "checkpoints").glob("epoch*.ckpt"))
    state = load_checkpoint(str(ckpt_path))["state_dict"]
    assert state and all(("lora_" in k) or ("classifier.modules_to_save" in k) for k in state), sorted(state)[:5]
    info = json.loads((run / "run_info.json").read_text())
    assert 0 < info["parameters"]["trainable_pct"] < 50
    assert info["checkpoint_bytes"] < 0.5 * 4 * info["parameters"]["total"]  # far below a full fp32 copy
    again = evaluate(tiny_cfg(*_overrides(tiny_folder, synthetic, "lora"), f"ckpt_path={ckpt_path}",
                              f"paths.output_dir={tmp_path / 'eval'}", config_name="eval"))
    assert again["test/f1"] == pytest.approx(metrics["test/f1"], abs=1e-6)


def test_merged_export_matches_unmerged_in_a_fresh_process(tiny_cfg, tiny_folder, synthetic, tmp_path):
    run = tmp_path / "run"
    over = _overrides(tiny_folder, synthetic, "lora", "trainer.max_epochs=1", "method.dropout=0.0")
    train(tiny_cfg(*over, f"paths.output_dir={run}"))
    ckpt = next((run / "checkpoints").glob("epoch*.ckpt"))
    cfg = tiny_cfg(*over, f"ckpt_path={ckpt}", f"out_dir={tmp_path / 'export'}", config_name="export")
    written = export(cfg)
    # The unmerged model's logits, in this process.
    tok = builders.build_tokenizer_from(cfg)
    dm = builders.build_datamodule(cfg, tok)
    module = builders.build_module(cfg, dm, tok)
    module.load_weights(load_checkpoint(str(ckpt))["state_dict"])
    module.eval()
    enc = tok([["breast", "cancer", "and", "asthma"]], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        expected = module.model(**enc).logits
    torch.save({"enc": dict(enc), "expected": expected}, tmp_path / "probe.pt")
    # The merged folder, loaded by plain transformers in a fresh interpreter (no tunelab import).
    script = (
        "import sys, torch; from transformers import AutoModelForTokenClassification as A;"
        f"d = torch.load({str(tmp_path / 'probe.pt')!r}); m = A.from_pretrained({written['model']!r}).eval();"
        "got = m(**d['enc']).logits; diff = (got - d['expected']).abs().max().item(); print(diff);"
        "sys.exit(0 if diff < 1e-5 else 1)"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    # The adapter alone, in peft's own format.
    from peft import PeftModel
    from transformers import AutoModelForTokenClassification

    base = AutoModelForTokenClassification.from_pretrained(str(tiny_folder), num_labels=3)
    peft_model = PeftModel.from_pretrained(base, written["adapter"]).eval()
    with torch.no_grad():
        assert torch.allclose(peft_model(**enc).logits, expected, atol=1e-5)


# -- every method x every objective, one batch, on real data with the tiny model ----------------
from tests.conftest import needs_shared  # noqa: E402
from tunelab import tasks  # noqa: E402

OBJECTIVES = {"token_classification": "full_ncbi", "sequence_classification": "full_fpb", "multiple_choice": "full_medqa",
              "sentence_pair_classification": "full_atec"}
METHODS = ["full", "head_only", "lora", "adalora", "ia3", "prefix_tuning", "prompt_tuning", "adapter"]


@needs_shared
@pytest.mark.parametrize("task", sorted(OBJECTIVES))
@pytest.mark.parametrize("method", METHODS)
def test_method_objective_fast_dev_run(method, task, tiny_cfg):
    from tunelab.errors import ConfigError

    cfg = tiny_cfg(f"+experiment={OBJECTIVES[task]}", f"method={method}", "debug=fdr", "data.limit=64")
    if method not in tasks.get(task).methods:
        with pytest.raises(ConfigError, match=rf"{method} cannot serve {task}"):
            train(cfg)
        return
    metrics = train(cfg)
    assert {f"test/{m}" for m in tasks.get(task).metric_names} <= set(metrics)


def test_adalora_reallocates_ranks_during_training(tiny_cfg, tiny_folder, synthetic):
    cfg = tiny_cfg(*_overrides(tiny_folder, synthetic, "adalora", "trainer.max_epochs=4", "method.deltaT=2",
                               "method.init_r=6", "method.target_r=2"), "test=false")
    tok = builders.build_tokenizer_from(cfg)
    dm = builders.build_datamodule(cfg, tok)
    module = builders.build_module(cfg, dm, tok)
    trainer = builders.build_trainer(cfg, builders.build_callbacks(cfg), [])
    trainer.fit(module, datamodule=dm)
    ranks = module.model.peft_config["default"].rank_pattern
    # The budget phase ended: a rank pattern exists and the total rank shrank from 6 per module.
    assert ranks, "update_and_allocate never ran"
    assert sum(sum(m) for m in ranks.values()) < 6 * len(ranks)
