"""Step-capped and validation-free runs train, test and summarise instead of crashing (issue 20)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import needs_shared
from tests.helpers import assert_same_metrics, interrupted_and_uninterrupted, ner_overrides, write_synthetic_ner
from tunelab import tasks
from tunelab.training import train


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic_ner")
    write_synthetic_ner(folder, n_train=64)  # 4 training batches of 16 an epoch
    return folder


CASES = {
    "max_steps inside epoch 1": (["trainer.max_steps=2"], True),
    "max_steps spanning two epochs": (["trainer.max_steps=6", "trainer.max_epochs=5"], True),
    "no validation batches": (["trainer.limit_val_batches=0"], False),
    "validation mid-epoch": (["trainer.val_check_interval=0.5"], True),
    "validation every 2nd epoch, 1 epoch": (["trainer.check_val_every_n_epoch=2", "trainer.max_epochs=1"], False),
    "accumulate 2 batches": (["trainer.accumulate_grad_batches=2"], True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_trainer_flags_run_to_a_tested_checkpoint(case, tiny_cfg, small, tmp_path, capsys):
    flags, validates = CASES[case]
    metrics = train(tiny_cfg(*ner_overrides(small), "trainer.max_epochs=2", *flags))
    assert {"test/f1", "test/precision", "test/recall"} <= set(metrics)
    assert json.loads((tmp_path / "metrics.json").read_text()) == pytest.approx(metrics)
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    if validates:
        assert "validation" not in info and "epoch" in info["tested_checkpoint"]  # the best epoch
    else:  # said in run_info.json; last.ckpt tested
        assert info["validation"]["ran"] is False and info["validation"]["reason"].startswith("trainer.")
        assert info["tested_checkpoint"].endswith("last.ckpt")
    assert "run summary" in capsys.readouterr().out


def test_step_cap_stops_where_it_says(tiny_cfg, small, tmp_path):
    import torch

    train(tiny_cfg(*ner_overrides(small), "trainer.max_steps=6", "trainer.max_epochs=5", "test=false"))
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 6


def test_resumed_step_capped_run_equals_uninterrupted(tiny_cfg, small, tmp_path):
    """The cap (6 steps) falls inside epoch 2; the interrupted run stopped after epoch 1."""
    common = [*ner_overrides(small), "trainer.max_steps=6", "trainer.max_epochs=5", "seed=7"]
    assert_same_metrics(*interrupted_and_uninterrupted(tiny_cfg, common, tmp_path))


OBJECTIVE_EXPERIMENTS = ["full_ncbi", "full_fpb", "full_medqa", "full_atec", "mlm_pubmed_scratch", "clm_pubmed_scratch"]


@needs_shared
@pytest.mark.parametrize("name", OBJECTIVE_EXPERIMENTS)
def test_every_objective_takes_a_step_cap_inside_the_first_epoch(name, tiny_cfg, tmp_path):
    cfg = tiny_cfg(f"+experiment={name}", "trainer.max_steps=2", "data.batch_size=4")
    task = tasks.get(cfg.data.task)
    extra = (["data.limit_docs=200", f"data.cache_dir={tmp_path / 'cache'}"]
             if task.pretraining else ["data.limit=48"])
    metrics = train(tiny_cfg(f"+experiment={name}", "trainer.max_steps=2", "data.batch_size=4", *extra))
    assert {f"test/{m}" for m in task.metric_names} <= set(metrics)
    assert cfg.data.monitor in metrics  # validated at the cap, so the best checkpoint was chosen on it
