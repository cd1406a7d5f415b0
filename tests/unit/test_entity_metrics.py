"""Strict entity-level NER scoring: counts worked out by hand, and seqeval (strict IOB2) on random tags."""

from __future__ import annotations

import json

import pytest
import torch

from tunelab.errors import TunelabError
from tunelab.metrics.entities import EntityF1, extract_entities

LABELS = ["O", "B-D", "I-D", "B-C", "I-C"]
ID = {t: i for i, t in enumerate(LABELS)}
PAD = -100


def ids(tags: list[str], length: int, fill: int) -> list[int]:
    return [ID[t] for t in tags] + [fill] * (length - len(tags))


# Hand case (types sorted: C, D).
#   sentence 1 gold  B-D I-D O   B-D   -> D(0,2) D(3,4)
#              pred  B-D O   B-C B-D   -> D(0,1) partial, no credit; C(2,3) extra; D(3,4) exact
#   sentence 2 gold  O   B-C I-C [pad] -> C(1,3)
#              pred  O   B-D I-D B-D   -> D(1,3) wrong type; the B-D under padding must be dropped
# pred entities 4, gold entities 3, exact matches 1:
#   micro P = 1/4, R = 1/3, F1 = 2PR/(P+R) = (1/6)/(7/12) = 2/7
#   D: pred 3, gold 2, tp 1 -> P 1/3, R 1/2, F1 2/5 ; C: pred 1, gold 1, tp 0 -> 0, 0, 0
#   macro P = 1/6, R = 1/4, F1 = 1/5 ; weighted (by support 2, 1) P = 2/9, R = 1/3, F1 = 4/15
GOLD = [["B-D", "I-D", "O", "B-D"], ["O", "B-C", "I-C"]]
PRED = [["B-D", "O", "B-C", "B-D"], ["O", "B-D", "I-D", "B-D"]]


def batch(rows: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
    gold, pred = GOLD[rows], PRED[rows]
    n = max(len(r) for r in pred)
    target = torch.tensor([ids(g, n, PAD) for g in gold])
    preds = torch.tensor([[ID[t] for t in p] + [ID["B-D"]] * (n - len(p)) for p in pred])
    return preds, target


def row(p: float, r: float, f1: float, support: int) -> dict:
    return {"precision": p, "recall": r, "f1": f1, "support": support}


def scores(metric: EntityF1) -> dict[str, float]:
    return {k: float(v) for k, v in metric.compute().items()}


def test_hand_case_micro_scores():
    m = EntityF1(LABELS)
    m.update(*batch())
    s = scores(m)
    assert s["precision"] == pytest.approx(1 / 4)
    assert s["recall"] == pytest.approx(1 / 3)
    assert s["f1"] == pytest.approx(2 / 7)
    assert m.tp.tolist() == [0, 1] and m.n_pred.tolist() == [1, 3] and m.n_gold.tolist() == [1, 2]


def test_report_rows_on_hand_case():
    m = EntityF1(LABELS)
    m.update(*batch())
    r = m.report()
    assert list(r) == ["C", "D", "micro avg", "macro avg", "weighted avg"]
    assert r["D"] == pytest.approx(row(1 / 3, 1 / 2, 2 / 5, 2))
    assert r["C"] == row(0.0, 0.0, 0.0, 1)
    assert r["micro avg"] == pytest.approx(row(1 / 4, 1 / 3, 2 / 7, 3))
    assert r["macro avg"] == pytest.approx(row(1 / 6, 1 / 4, 1 / 5, 3))
    assert r["weighted avg"] == pytest.approx(row(2 / 9, 1 / 3, 4 / 15, 3))
    assert isinstance(r["D"]["support"], int) and isinstance(r["D"]["f1"], float)
    json.dumps(r)  # plain Python values only


def test_whole_split_counting_is_batching_invariant_and_not_a_mean_of_batches():
    whole = EntityF1(LABELS)
    whole.update(*batch())
    split = EntityF1(LABELS)
    split.update(*batch(slice(0, 1)))
    split.update(*batch(slice(1, 2)))
    assert scores(split) == scores(whole)
    assert split.report() == whole.report()

    # Per-batch F1: sentence 1 alone has pred 3, gold 2, tp 1 -> F1 2/5; sentence 2 alone has
    # tp 0 -> F1 0. Their mean, 1/5, is not the split's 2/7.
    per_batch = []
    for rows in (slice(0, 1), slice(1, 2)):
        m = EntityF1(LABELS)
        m.update(*batch(rows))
        per_batch.append(scores(m)["f1"])
    assert per_batch == pytest.approx([2 / 5, 0.0])
    assert sum(per_batch) / 2 == pytest.approx(1 / 5)
    assert scores(whole)["f1"] == pytest.approx(2 / 7) != pytest.approx(1 / 5)


def test_states_sum_like_ddp_processes():
    # merge_state applies each state's dist_reduce_fx, which is what DDP sync does across ranks.
    rank0, rank1, whole = EntityF1(LABELS), EntityF1(LABELS), EntityF1(LABELS)
    rank0.update(*batch(slice(0, 1)))
    rank1.update(*batch(slice(1, 2)))
    whole.update(*batch())
    rank0.merge_state(rank1)
    assert scores(rank0) == scores(whole)


def test_padding_is_ignored():
    # Padding positions carry B-D in preds; if they leaked in they would add a predicted D.
    preds = torch.tensor([[ID["B-C"], ID["I-C"], ID["B-D"], ID["B-D"]]])
    target = torch.tensor([[ID["B-C"], ID["I-C"], PAD, PAD]])
    m = EntityF1(LABELS)
    m.update(preds, target)
    assert scores(m) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert m.n_pred.tolist() == [1, 0]


def test_padding_inside_a_row_is_dropped_before_extraction():
    # Dropping the padded word makes B-D, I-D adjacent, so the prediction is an exact match.
    preds = torch.tensor([[ID["B-D"], ID["O"], ID["I-D"]]])
    target = torch.tensor([[ID["B-D"], PAD, ID["I-D"]]])
    m = EntityF1(LABELS)
    m.update(preds, target)
    assert m.tp.tolist() == [0, 1]


def test_extract_entities_strict_iob2():
    assert extract_entities(["B-D", "I-D", "O", "B-D"]) == [("D", 0, 2), ("D", 3, 4)]
    assert extract_entities(["B-D", "B-D", "I-D"]) == [("D", 0, 1), ("D", 1, 3)]
    assert extract_entities([]) == []
    # Orphan I-X (start of sentence, after O) is no entity in strict mode.
    assert extract_entities(["I-D", "I-D", "O", "I-C"]) == []
    # I-C after B-D neither joins the D entity nor opens a C entity.
    assert extract_entities(["B-D", "I-C", "I-C"]) == [("D", 0, 1)]
    assert extract_entities(["B-D", "I-D", "I-C", "I-D"]) == [("D", 0, 2)]


def test_orphan_prediction_earns_nothing():
    # Gold B-D I-D; pred I-D I-D (lenient modes would call it a D entity at 0..2).
    m = EntityF1(LABELS)
    m.update(torch.tensor([[ID["I-D"], ID["I-D"]]]), torch.tensor([[ID["B-D"], ID["I-D"]]]))
    assert m.n_pred.tolist() == [0, 0] and m.tp.tolist() == [0, 0]
    assert scores(m) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_types_with_underscore_and_several_dashes():
    labels = ["O", "B-gene-or-protein", "I-gene-or-protein", "B-body_part", "I-body_part"]
    tags = ["B-gene-or-protein", "I-gene-or-protein", "B-body_part", "I-body_part"]
    tags.append("I-gene-or-protein")  # after body_part: an orphan, not an entity
    assert extract_entities(tags) == [("gene-or-protein", 0, 2), ("body_part", 2, 4)]
    m = EntityF1(labels)
    assert m.types == ["body_part", "gene-or-protein"]
    row = torch.tensor([[labels.index(t) for t in tags]])
    m.update(row, row)
    r = m.report()
    assert r["body_part"]["support"] == 1 and r["gene-or-protein"]["support"] == 1
    assert r["micro avg"]["f1"] == 1.0


def test_no_entities_gives_zero_not_nan():
    m = EntityF1(LABELS)
    m.update(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    assert scores(m) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    r = m.report()
    assert list(r) == ["micro avg", "macro avg", "weighted avg"]
    assert r["macro avg"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


@pytest.mark.parametrize("bad", ["S-D", "B-", "X", "B"])
def test_non_iob2_labels_are_rejected(bad):
    with pytest.raises(TunelabError, match="IOB2"):
        EntityF1(["O", bad])


# --------------------------------------------------------------------------- against seqeval


def _random_batches(seed: int, n_batches: int = 12, labels: list[str] = LABELS):
    """Random tag ids, orphan I-X and type switches included, with a ragged padded tail per row."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_batches):
        rows, width = int(torch.randint(1, 6, (1,), generator=g)), int(torch.randint(1, 16, (1,), generator=g))
        target = torch.randint(0, len(labels), (rows, width), generator=g)
        preds = torch.randint(0, len(labels), (rows, width), generator=g)
        # Mostly-correct predictions as well, so matches are common and not only chance.
        keep = torch.rand(rows, width, generator=g) < 0.7
        preds = torch.where(keep, target, preds)
        lengths = torch.randint(0, width + 1, (rows,), generator=g)
        for r, n in enumerate(lengths.tolist()):
            target[r, n:] = PAD
        yield preds, target


def _as_tags(preds: torch.Tensor, target: torch.Tensor, labels: list[str]) -> tuple[list[list[str]], list[list[str]]]:
    gold, pred = [], []
    for p_row, g_row in zip(preds.tolist(), target.tolist()):
        kept = [(p, t) for p, t in zip(p_row, g_row) if t != PAD]
        gold.append([labels[t] for _, t in kept])
        pred.append([labels[p] for p, _ in kept])
    return gold, pred


@pytest.mark.parametrize("seed", range(5))
def test_matches_seqeval_strict_iob2_on_random_tags(seed):
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    labels = ["O", "B-D", "I-D", "B-C", "I-C", "B-gene-x", "I-gene-x"]
    m = EntityF1(labels)
    gold, pred = [], []
    for preds, target in _random_batches(seed, labels=labels):
        m.update(preds, target)
        g, p = _as_tags(preds, target, labels)
        gold += g
        pred += p
    ours = scores(m)
    strict = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
    assert ours["precision"] == pytest.approx(precision_score(gold, pred, **strict), abs=1e-6)
    assert ours["recall"] == pytest.approx(recall_score(gold, pred, **strict), abs=1e-6)
    assert ours["f1"] == pytest.approx(f1_score(gold, pred, **strict), abs=1e-6)
    theirs = classification_report(gold, pred, output_dict=True, **strict)
    report = m.report()
    assert set(report) == set(theirs)
    for key, row_ in theirs.items():
        for stat in ("precision", "recall", "f1-score", "support"):
            assert report[key][stat.replace("f1-score", "f1")] == pytest.approx(float(row_[stat]), abs=1e-6), (key, stat)


def test_seqeval_default_mode_is_not_what_we_match():
    """seqeval's default (conlleval) mode counts an orphan I-X as an entity; strict IOB2 does not."""
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    gold, pred = [["B-D", "I-D", "O"]], [["I-D", "I-D", "O"]]
    m = EntityF1(LABELS)
    m.update(torch.tensor([[ID[t] for t in pred[0]]]), torch.tensor([[ID[t] for t in gold[0]]]))
    assert scores(m)["f1"] == f1_score(gold, pred, mode="strict", scheme=IOB2) == 0.0
    assert f1_score(gold, pred) == 1.0  # default mode: I-D I-D is read as the entity D(0, 2)
