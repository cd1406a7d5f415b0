"""AdaLoRA's schedule and allocator: planned steps match Lightning's, and a resumed run prunes the
same ranks as an uninterrupted one (the allocator's sensitivity averages travel in last.ckpt)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import ner_overrides
from tunelab import builders
from tunelab.training import train


# `synthetic` (conftest): 160 training sentences, 10 batches of 16.
def _overrides(tiny_folder, synthetic, *extra):
    return [*ner_overrides(synthetic), "method=adalora", f"model.name_or_path={tiny_folder}", "model.tokenizer=null",
            "model.from_scratch=null", "method.deltaT=2", "method.init_r=6", "method.target_r=2", *extra]


@pytest.mark.parametrize("trainer,expected", [
    # 10 batches, 3 epochs, windows of 3: ceil(10/3) = 4 steps an epoch (the short window steps too).
    (["trainer.accumulate_grad_batches=3"], 12),
    # 2 ranks take 5 batches each; windows of 2: ceil(5/2) = 3 steps an epoch. The old count,
    # 10 * 3 // 2 = 15, ignored the world size and the short windows.
    (["trainer.devices=2", "trainer.accumulate_grad_batches=2"], 9),
])
def test_planned_steps_count_world_size_and_accumulation(tiny_cfg, tiny_folder, synthetic, trainer, expected):
    cfg = tiny_cfg(*_overrides(tiny_folder, synthetic, "trainer.max_epochs=3", *trainer))
    dm = builders.build_datamodule(cfg, builders.build_tokenizer_from(cfg))
    assert builders.planned_steps(cfg, dm) == expected


def test_planned_steps_equal_the_steps_lightning_takes(tiny_cfg, tiny_folder, synthetic):
    cfg = tiny_cfg(*_overrides(tiny_folder, synthetic, "trainer.max_epochs=2", "trainer.accumulate_grad_batches=3"),
                   "test=false")
    tok = builders.build_tokenizer_from(cfg)
    dm = builders.build_datamodule(cfg, tok)
    module = builders.build_module(cfg, dm, tok)
    trainer = builders.build_trainer(cfg, builders.build_callbacks(cfg), [])
    trainer.fit(module, datamodule=dm)
    assert trainer.global_step == builders.planned_steps(cfg, dm) == 8


def test_resumed_adalora_run_restores_the_allocator_averages(tiny_cfg, tiny_folder, synthetic, tmp_path):
    """Before, a resumed run restarted the sensitivity averages from zero (and pruned other ranks)."""
    import torch

    common = _overrides(tiny_folder, synthetic, "trainer.max_epochs=3", "seed=3", "method.tinit_ratio=0.0")
    cut = tmp_path / "cut"
    train(tiny_cfg(*common, f"paths.output_dir={cut}", "test=false",
                   "+callbacks.stop._target_=tests.helpers.StopAfterEpochs", "+callbacks.stop.epochs=1"))
    saved = torch.load(cut / "checkpoints" / "last.ckpt", weights_only=False)["callbacks"]["AdaLoraAllocator"]
    assert saved["last_step"] == 10 and saved["exp_avg_ipt"]
    probe = tmp_path / "probe.json"
    train(tiny_cfg(*common, f"paths.output_dir={cut}", f"ckpt_path={cut}/checkpoints/last.ckpt", "test=false",
                   "+callbacks.probe._target_=tests.helpers.ProbeAdaLoraState", f"+callbacks.probe.out={probe}"))
    seen = json.loads(probe.read_text())
    assert seen == pytest.approx({n: float(t.sum()) for n, t in saved["exp_avg_ipt"].items()})
