"""Per-class report for sequence classification, plus the text table shared with NER.

``ClassificationReport`` keeps one confusion matrix over the whole split (summed across DDP
processes), so every number is computed from split-level counts, never averaged over batches.
``report()`` follows sklearn's ``classification_report(output_dict=True)``: rows for the classes
that occur in the gold labels or the predictions, then "accuracy", "macro avg" and
"weighted avg"; a zero denominator gives 0.0 rather than NaN so the dict stays JSON-safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torchmetrics

from tunelab.errors import TunelabError


def _div(num: float, den: float) -> float:
    # sklearn/seqeval "zero_division=0": an empty denominator scores 0, never NaN.
    return num / den if den else 0.0


def _f1(p: float, r: float) -> float:
    return _div(2 * p * r, p + r)


def prf_row(tp: int, n_pred: int, n_gold: int) -> dict[str, Any]:
    """One report row from counts (shared with the entity report so both agree on formulas)."""
    p, r = _div(tp, n_pred), _div(tp, n_gold)
    return {"precision": p, "recall": r, "f1": _f1(p, r), "support": int(n_gold)}


def average_rows(rows: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Macro (unweighted mean) and support-weighted averages of per-label rows."""
    support = sum(r["support"] for r in rows)
    keys = ("precision", "recall", "f1")
    macro = {k: _div(sum(r[k] for r in rows), len(rows)) for k in keys}
    weighted = {k: _div(sum(r[k] * r["support"] for r in rows), support) for k in keys}
    return {**macro, "support": support}, {**weighted, "support": support}


def _synced_counts(metric: torchmetrics.Metric, *names: str) -> list[Any]:
    """Read states as Python lists, gathered across processes like ``compute()`` does.

    ``report()`` is not wrapped by torchmetrics, so without this it would show only the local
    rank's share of the split under DDP.
    """
    with metric.sync_context(
        dist_sync_fn=metric.dist_sync_fn,
        should_sync=metric._to_sync and not metric._is_synced,
        should_unsync=metric._should_unsync,
    ):
        return [getattr(metric, n).tolist() for n in names]


class ClassificationReport(torchmetrics.Metric):
    """Accuracy, macro-F1 and a per-class report from one split-level confusion matrix."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, label_names: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label_names = [str(n) for n in label_names]
        if not self.label_names:
            raise TunelabError("ClassificationReport needs at least one label name")
        n = len(self.label_names)
        # confmat[gold, pred]; a sum over processes is the confusion matrix of the whole split.
        self.add_state("confmat", default=torch.zeros(n, n, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        preds, target = preds.reshape(-1).long(), target.reshape(-1).long()
        if preds.shape != target.shape:
            raise ValueError(f"preds {tuple(preds.shape)} and target {tuple(target.shape)} differ")
        n = len(self.label_names)
        both = torch.cat([preds, target])
        if both.numel() and (both.min() < 0 or both.max() >= n):
            raise ValueError(f"class ids must lie in [0, {n})")
        # bincount of gold*n+pred fills the flattened matrix in one pass.
        flat = torch.bincount(target * n + preds, minlength=n * n)
        self.confmat += flat.reshape(n, n).to(self.confmat.device)

    def _rows(self, confmat: list[list[int]]) -> dict[str, dict[str, Any]]:
        n = len(confmat)
        rows = {}
        for i, name in enumerate(self.label_names):
            n_gold = sum(confmat[i])
            n_pred = sum(confmat[g][i] for g in range(n))
            # Like sklearn without labels=: a class absent from gold and predictions gets no row
            # (and so does not drag the macro average down with a meaningless 0).
            if n_gold or n_pred:
                rows[name] = prf_row(confmat[i][i], n_pred, n_gold)
        return rows

    def compute(self) -> dict[str, torch.Tensor]:
        # torchmetrics already wraps compute() in the DDP sync, so the local state is the split's.
        confmat = self.confmat.tolist()
        total = sum(map(sum, confmat))
        acc = _div(sum(confmat[i][i] for i in range(len(confmat))), total)
        rows = list(self._rows(confmat).values())
        macro_f1 = average_rows(rows)[0]["f1"] if rows else 0.0
        dev = self.confmat.device
        return {
            "acc": torch.tensor(acc, device=dev),
            "macro_f1": torch.tensor(macro_f1, device=dev),
        }

    def report(self) -> dict[str, Any]:
        (confmat,) = _synced_counts(self, "confmat")
        rows: dict[str, Any] = self._rows(confmat)
        per_class = list(rows.values())
        total = sum(map(sum, confmat))
        rows["accuracy"] = _div(sum(confmat[i][i] for i in range(len(confmat))), total)
        rows["macro avg"], rows["weighted avg"] = average_rows(per_class)
        return rows


def format_report(report: dict[str, Any], digits: int = 4) -> str:
    """Fixed-width table of a classification or entity report (name, P, R, F1, support).

    Per-label rows come first, then a blank line, then the summary rows ("accuracy" and the
    "... avg" rows), mirroring sklearn/seqeval's text layout.
    """
    summary = [k for k in report if k == "accuracy" or k.endswith(" avg")]
    labels = [k for k in report if k not in summary]
    width = max([len(k) for k in report] + [len("weighted avg")])
    head = f"{'':>{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}"
    lines = [head, ""]

    def fmt(name: str) -> str:
        row = report[name]
        if not isinstance(row, dict):  # "accuracy" is a bare float, shown in the f1 column
            support = report.get("macro avg", {}).get("support", "")
            return f"{name:>{width}} {'':>9} {'':>9} {row:>9.{digits}f} {support:>9}"
        return (
            f"{name:>{width}} {row['precision']:>9.{digits}f} {row['recall']:>9.{digits}f}"
            f" {row['f1']:>9.{digits}f} {row['support']:>9}"
        )

    lines += [fmt(k) for k in labels]
    if summary:
        lines += [""] + [fmt(k) for k in summary]
    return "\n".join(lines) + "\n"
