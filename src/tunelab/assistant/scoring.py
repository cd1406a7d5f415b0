"""Scores of generated replies against references: ROUGE-L (rouge-score, F-measure, Porter
stemming, averaged over replies) and corpus BLEU (sacrebleu, its default 13a tokenisation).
Both are optional dependencies (``pip install -e ".[assist]"``)."""

from __future__ import annotations

from collections.abc import Sequence

from tunelab.errors import ConfigError


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{module.split('.')[0]} is not installed; pip install -e \".[assist]\"") from None


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> float:
    scorer = _need("rouge_score.rouge_scorer").RougeScorer(["rougeL"], use_stemmer=True)
    if not predictions:
        return 0.0
    return sum(scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references)) / len(predictions)


def bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    return float(_need("sacrebleu").corpus_bleu(list(predictions), [list(references)]).score)
