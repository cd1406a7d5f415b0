"""ROUGE-L and BLEU of generated replies (tunelab.assistant.scoring) on hand-checked cases."""

from __future__ import annotations

import pytest

from tunelab.assistant.scoring import bleu, rouge_l


def test_rouge_l_is_the_mean_lcs_f_measure():
    assert rouge_l(["open the orders page"], ["open the orders page"]) == pytest.approx(1.0)
    # LCS "the order page" (stemming: orders -> order) = 3 of 4 tokens each side: F = 0.75; the
    # score is the mean over replies, not one pooled LCS.
    assert rouge_l(["the order page now", "x"], ["open the orders page", "y"]) == pytest.approx((0.75 + 0.0) / 2)
    assert rouge_l([], []) == 0.0


def test_bleu_is_sacrebleus_corpus_score():
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    assert bleu(["completely different words here"], ["the cat sat on the mat"]) < 5
