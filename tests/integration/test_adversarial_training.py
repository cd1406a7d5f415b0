"""Adversarial training and robustness evaluation through train(cfg)."""

from __future__ import annotations

import pytest

from tests.conftest import needs_shared
from tests.helpers import ner_overrides
from tunelab.training import train

OBJECTIVES = {"token_classification": "full_ncbi", "sequence_classification": "full_fpb", "multiple_choice": "full_medqa"}


@needs_shared
@pytest.mark.parametrize("task", sorted(OBJECTIVES))
@pytest.mark.parametrize("adversarial", ["fgm", "pgd", "freelb"])
def test_every_strategy_on_every_objective(adversarial, task, tiny_cfg):
    cfg = tiny_cfg(f"+experiment={OBJECTIVES[task]}", f"adversarial={adversarial}", "debug=fdr", "data.limit=32",
                   "method=lora")
    metrics = train(cfg)
    assert ("test/f1" if task == "token_classification" else "test/acc") in metrics


def test_robust_metrics_beside_clean_ones(tiny_cfg, synthetic):
    # The tiny random model's whole-sentence embedding norm is ~0.5: radii are chosen on that scale.
    cfg = tiny_cfg(*ner_overrides(synthetic), "trainer.max_epochs=6", "adversarial=fgm", "adversarial.eps=0.05",
                   "robustness.pgd.eps=[0.05,1.0]", "robustness.suites=[typo,word_drop]", "robustness.rate=0.3")
    m = train(cfg)
    for key in ("test/f1", "test/robust_pgd_eps0.05_f1", "test/robust_pgd_eps1_f1",
                "test/robust_typo_f1", "test/robust_word_drop_f1"):
        assert key in m, sorted(m)
    assert m["test/f1"] > 0.8
    # A stronger attack hurts at least as much; a large one hurts clearly.
    assert m["test/robust_pgd_eps1_f1"] <= m["test/robust_pgd_eps0.05_f1"] + 1e-9
    assert m["test/robust_pgd_eps1_f1"] < m["test/f1"]
    # Dropping only O words keeps every gold entity: a model keyed on disease words barely moves.
    assert m["test/robust_word_drop_f1"] > 0.8 * m["test/f1"]
