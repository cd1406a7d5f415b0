"""Continual-learning metrics from the accuracy matrix, pure functions.

``R[i][j]`` is the score on task j after training task i (rows 0..T-1), and ``b[j]`` the score of
the untrained model on task j (the row written "init" in R.csv). With T tasks:

* ACC = mean_j R[T-1][j]                                  (average accuracy after the last task)
* BWT = mean_{j<T-1} (R[T-1][j] - R[j][j])                (Lopez-Paz & Ranzato 2017; < 0: forgetting)
* FWT = mean_{j>0} (R[j-1][j] - b[j])                     (Lopez-Paz & Ranzato 2017)
* forgetting = mean_{j<T-1} (max_{j<=l<T-1} R[l][j] - R[T-1][j])   (Chaudhry et al. 2018)

With one task BWT, FWT and forgetting are undefined (None).
"""

from __future__ import annotations

from collections.abc import Sequence


def _check(R: Sequence[Sequence[float]], b: Sequence[float] | None = None) -> int:
    T = len(R)
    if T == 0 or any(len(row) != T for row in R):
        raise ValueError(f"R must be T x T, got {len(R)} rows of lengths {[len(r) for r in R]}")
    if b is not None and len(b) != T:
        raise ValueError(f"b must have {T} entries, got {len(b)}")
    return T


def acc(R) -> float:
    T = _check(R)
    return sum(R[T - 1]) / T


def bwt(R) -> float | None:
    T = _check(R)
    if T < 2:
        return None
    return sum(R[T - 1][j] - R[j][j] for j in range(T - 1)) / (T - 1)


def fwt(R, b) -> float | None:
    T = _check(R, b)
    if T < 2:
        return None
    return sum(R[j - 1][j] - b[j] for j in range(1, T)) / (T - 1)


def forgetting(R) -> float | None:
    T = _check(R)
    if T < 2:
        return None
    return sum(max(R[l][j] for l in range(j, T - 1)) - R[T - 1][j] for j in range(T - 1)) / (T - 1)


def cl_metrics(R, b) -> dict[str, float | None]:
    return {"acc": acc(R), "bwt": bwt(R), "fwt": fwt(R, b), "forgetting": forgetting(R)}
