"""Strict entity-level NER scoring (seqeval ``mode="strict"``, IOB2) at word level.

Why this shape:
- Word level: tags are scored per word (first sub-token), so the tokenizer cannot change the
  score; callers pass (batch, n_words) ids with -100 marking padding.
- Whole split: the metric only accumulates counts (true positives, predicted and gold entities
  per type) and derives P/R/F1 from the split totals at the end. A mean of per-batch F1 scores
  would weight a batch with one entity like a batch with fifty and depend on the batch size.
- Strict: an entity counts only if type, start and end all match; a partial span earns nothing,
  and an ``I-X`` that does not continue an ``X`` entity starts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torchmetrics

from tunelab.errors import TunelabError
# format_report is re-exported so NER callers print their report with the same table.
from tunelab.metrics.classification import _synced_counts, average_rows, format_report, prf_row

Entity = tuple[str, int, int]  # (type, start, end_exclusive)


def _split_tag(tag: str) -> tuple[str, str]:
    """``"B-foo-bar"`` -> ``("B", "foo-bar")``, ``"O"`` -> ``("O", "")``: split on the first '-'."""
    if tag == "O":
        return "O", ""
    prefix, sep, etype = tag.partition("-")
    if not sep or prefix not in ("B", "I") or not etype:
        raise TunelabError(f"tag {tag!r} is not IOB2 (expected 'O', 'B-<type>' or 'I-<type>')")
    return prefix, etype


def extract_entities(tags: Sequence[str]) -> list[Entity]:
    """Entities of a strict IOB2 tag sequence as ``(type, start, end_exclusive)``.

    An entity opens at ``B-X`` and extends over the following ``I-X``; anything else closes it.
    An orphan ``I-X`` (after ``O``, or after an entity of another type) is not an entity.
    """
    entities: list[Entity] = []
    open_type, start = None, 0
    for i, tag in enumerate(tags):
        prefix, etype = _split_tag(tag)
        if prefix == "I" and etype == open_type:
            continue  # the open entity goes on
        if open_type is not None:
            entities.append((open_type, start, i))
        # Only B opens an entity; O and a non-continuing I leave nothing open (strict mode).
        open_type, start = (etype, i) if prefix == "B" else (None, i)
    if open_type is not None:
        entities.append((open_type, start, len(tags)))
    return entities


class EntityF1(torchmetrics.Metric):
    """Micro P/R/F1 over exact entity matches, counted over the whole split."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, label_names: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label_names = [str(n) for n in label_names]
        for tag in self.label_names:
            _split_tag(tag)  # fail at construction on a non-IOB2 label, not mid-epoch
        self.types = sorted({_split_tag(t)[1] for t in self.label_names if t != "O"})
        self._type_index = {t: i for i, t in enumerate(self.types)}
        n = len(self.types)
        # Per-type counts; summing them over processes gives the split's counts under DDP.
        for name in ("tp", "n_pred", "n_gold"):
            self.add_state(name, default=torch.zeros(n, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        if preds.shape != target.shape or preds.dim() != 2:
            raise ValueError(
                f"preds {tuple(preds.shape)} and target {tuple(target.shape)}"
                " must both be (batch, n_words)"
            )
        n = len(self.types)
        tp, n_pred, n_gold = [0] * n, [0] * n, [0] * n
        # One device->host copy per batch; entity extraction is sequential Python anyway.
        for p_row, g_row in zip(preds.long().tolist(), target.long().tolist()):
            kept = [(p, g) for p, g in zip(p_row, g_row) if g != -100]
            pred = set(extract_entities([self.label_names[p] for p, _ in kept]))
            gold = set(extract_entities([self.label_names[g] for _, g in kept]))
            for etype, _, _ in pred:
                n_pred[self._type_index[etype]] += 1
            for etype, _, _ in gold:
                n_gold[self._type_index[etype]] += 1
            for etype, _, _ in pred & gold:  # exact (type, start, end) matches only
                tp[self._type_index[etype]] += 1
        for name, counts in (("tp", tp), ("n_pred", n_pred), ("n_gold", n_gold)):
            state = getattr(self, name)
            state += torch.tensor(counts, dtype=torch.long, device=state.device)

    def compute(self) -> dict[str, torch.Tensor]:
        row = prf_row(int(self.tp.sum()), int(self.n_pred.sum()), int(self.n_gold.sum()))
        dev = self.tp.device
        keys = ("precision", "recall", "f1")
        return {k: torch.tensor(row[k], dtype=torch.float32, device=dev) for k in keys}

    def report(self) -> dict[str, Any]:
        """seqeval-style ``classification_report(output_dict=True)``: per type, then averages.

        As in seqeval, only types seen in gold or predictions get a row and enter the macro
        average; "micro avg" pools the counts, "weighted avg" weights by gold support.
        """
        tp, n_pred, n_gold = _synced_counts(self, "tp", "n_pred", "n_gold")
        rows: dict[str, Any] = {
            t: prf_row(tp[i], n_pred[i], n_gold[i])
            for i, t in enumerate(self.types)
            if n_pred[i] or n_gold[i]
        }
        per_type = list(rows.values())
        rows["micro avg"] = prf_row(sum(tp), sum(n_pred), sum(n_gold))
        rows["macro avg"], rows["weighted avg"] = average_rows(per_type)
        return rows


__all__ = ["Entity", "EntityF1", "extract_entities", "format_report"]
