"""Evaluating a checkpoint with another seed than training gives the same metrics.

The seed drives data order, dropout and fresh initialisation. None of them may reach a score:
evaluation has no dropout and no shuffling, and every weight must come from the checkpoint or the
backbone's source, never from the seed. Checked for a full checkpoint and for a trainable-only
(LoRA) one, whose frozen backbone is rebuilt at evaluation time.
"""

from __future__ import annotations

import pytest

from tests.helpers import ner_overrides
from tunelab.evaluation import evaluate
from tunelab.training import train


# Epochs that leave each run short of a perfect score: 1.0 (or 0.0) would hide a changed model.
@pytest.mark.parametrize("method, epochs", [("full", 2), ("lora", 3)])
def test_evaluate_with_another_seed_reproduces_training_metrics(method, epochs, tiny_cfg, tmp_path, synthetic, tiny_folder):
    extra = [] if method == "full" else [
        "method=lora", f"model.name_or_path={tiny_folder}", "model.tokenizer=null", "model.from_scratch=null"]
    common = [*ner_overrides(synthetic), *extra]
    run = tmp_path / "run"
    trained = train(tiny_cfg(*common, f"trainer.max_epochs={epochs}", "seed=42", f"paths.output_dir={run}"))
    (ckpt,) = (run / "checkpoints").glob("epoch*.ckpt")
    assert 0.05 < trained["test/f1"] < 1, trained  # a score that another seed or lost weights would move
    for seed in (7, 42):
        for split, prefix in (("test", "test"), ("validation", "val")):
            got = evaluate(tiny_cfg(*common, f"ckpt_path={ckpt}", f"split={split}", f"seed={seed}",
                                    f"paths.output_dir={tmp_path / f'eval_{seed}_{split}'}", config_name="eval"))
            for metric in ("f1", "precision", "recall"):
                assert got[f"{split}/{metric}"] == pytest.approx(trained[f"{prefix}/{metric}"], abs=1e-6), (seed, split, metric)
