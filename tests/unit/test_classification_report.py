"""Per-class classification report, checked against numbers worked out by hand."""

from __future__ import annotations

import json

import pytest
import torch

from tunelab.metrics.classification import ClassificationReport, format_report
from tunelab.metrics.entities import EntityF1

LABELS = ["neg", "neu", "pos", "unused"]

# Hand case: "neu" is never predicted, "unused" never occurs at all.
#   gold  neg neg neu neu pos pos pos
#   pred  neg pos neg pos pos pos neg
# correct 3 of 7 -> accuracy 3/7
#   neg: tp 1, pred 3, gold 2 -> P 1/3, R 1/2, F1 2/5
#   neu: tp 0, pred 0, gold 2 -> P 0 (0/0), R 0, F1 0
#   pos: tp 2, pred 4, gold 3 -> P 1/2, R 2/3, F1 (2/3)/(7/6) = 4/7
#   unused: no gold, no pred -> no row, not in the averages
#   macro P = (1/3 + 0 + 1/2)/3 = 5/18, R = (1/2 + 0 + 2/3)/3 = 7/18, F1 = (2/5 + 4/7)/3 = 34/105
#   weighted (supports 2, 2, 3): P = (2/3 + 3/2)/7 = 13/42, R = 3/7, F1 = (4/5 + 12/7)/7 = 88/245
GOLD = torch.tensor([0, 0, 1, 1, 2, 2, 2])
PRED = torch.tensor([0, 2, 0, 2, 2, 2, 0])


def row(p: float, r: float, f1: float, support: int) -> dict:
    return {"precision": p, "recall": r, "f1": f1, "support": support}


def test_accuracy_and_macro_f1_by_hand():
    m = ClassificationReport(LABELS)
    m.update(PRED, GOLD)
    out = m.compute()
    assert float(out["acc"]) == pytest.approx(3 / 7)
    assert float(out["macro_f1"]) == pytest.approx(34 / 105)


def test_report_rows_by_hand():
    m = ClassificationReport(LABELS)
    m.update(PRED, GOLD)
    r = m.report()
    assert list(r) == ["neg", "neu", "pos", "accuracy", "macro avg", "weighted avg"]
    assert r["neg"] == pytest.approx(row(1 / 3, 1 / 2, 2 / 5, 2))
    assert r["neu"] == row(0.0, 0.0, 0.0, 2)
    assert r["pos"] == pytest.approx(row(1 / 2, 2 / 3, 4 / 7, 3))
    assert r["accuracy"] == pytest.approx(3 / 7)
    assert r["macro avg"] == pytest.approx(row(5 / 18, 7 / 18, 34 / 105, 7))
    assert r["weighted avg"] == pytest.approx(row(13 / 42, 3 / 7, 88 / 245, 7))
    json.dumps(r)
    # compute() and report() must agree on macro-F1.
    assert float(m.compute()["macro_f1"]) == pytest.approx(r["macro avg"]["f1"])


def test_batches_accumulate_into_one_confusion_matrix():
    whole, split = ClassificationReport(LABELS), ClassificationReport(LABELS)
    whole.update(PRED, GOLD)
    split.update(PRED[:3], GOLD[:3])
    split.update(PRED[3:], GOLD[3:])
    assert torch.equal(split.confmat, whole.confmat)
    assert split.report() == whole.report()
    assert whole.confmat.tolist() == [[1, 0, 1, 0], [1, 0, 1, 0], [1, 0, 2, 0], [0, 0, 0, 0]]


def test_out_of_range_class_id_is_rejected():
    m = ClassificationReport(LABELS)
    with pytest.raises(ValueError, match="class ids"):
        m.update(torch.tensor([4]), torch.tensor([0]))


def test_format_report_table_for_classification_and_entities():
    m = ClassificationReport(LABELS)
    m.update(PRED, GOLD)
    text = format_report(m.report())
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1", "support"]
    assert lines[2].split() == ["neg", "0.3333", "0.5000", "0.4000", "2"]
    assert lines[3].split() == ["neu", "0.0000", "0.0000", "0.0000", "2"]
    assert "accuracy" in text and lines[6].split() == ["accuracy", "0.4286", "7"]
    assert lines[7].split() == ["macro", "avg", "0.2778", "0.3889", "0.3238", "7"]
    # Fixed width: every non-blank line is as wide as the header.
    assert {len(line) for line in lines if line} == {len(lines[0])}

    ner = EntityF1(["O", "B-D", "I-D"])
    ner.update(torch.tensor([[1, 2, 0]]), torch.tensor([[1, 2, 0]]))
    ner_lines = format_report(ner.report()).splitlines()
    assert ner_lines[2].split() == ["D", "1.0000", "1.0000", "1.0000", "1"]
    assert any(line.split()[:2] == ["micro", "avg"] for line in ner_lines)
