"""The block a run prints last: test metrics, run directory, best checkpoint, ``wandb sync``.

Without it a run ends after Lightning's "Loaded model weights" line and the user has to know
where Hydra put the run and which checkpoint won. The block is built from plain values
(``format_summary``) so it is testable without a trainer, and printed with one write so that
log lines from other threads cannot land inside it.
"""

from __future__ import annotations

import math
import shlex
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

RULE = "=" * 64
TITLE = "run summary"


def _value(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{f:.4f}" if math.isfinite(f) else str(f)


def format_summary(
    metrics: Mapping[str, Any],
    output_dir: str | Path,
    best_checkpoint: str | Path | None = None,
    wandb_offline_dir: str | Path | None = None,
    prefix: str = "test/",
) -> str:
    """The summary block as one string (no trailing newline).

    ``metrics``: the run's metrics; only keys starting with ``prefix`` are shown (the test split
    of the best checkpoint). ``best_checkpoint``: None when the run kept no checkpoint (fast dev
    run, test-only run). ``wandb_offline_dir``: the offline run folder to pass to ``wandb sync``,
    None for online or CSV-only runs.
    """
    shown = {k: v for k, v in metrics.items() if k.startswith(prefix)}
    lines = [f"{TITLE} ".ljust(len(RULE), "=")]
    if shown:
        width = max(len(k) for k in shown)
        lines += [f"  {k.ljust(width)}  {_value(shown[k])}" for k in sorted(shown)]
    else:
        lines.append(f"  no {prefix.rstrip('/')} metrics (test=false?)")
    lines.append(f"  run dir:          {output_dir}")
    lines.append(f"  best checkpoint:  {best_checkpoint if best_checkpoint else 'none (no checkpoint kept)'}")
    if wandb_offline_dir:
        lines.append(f"  W&B offline run:  wandb sync {shlex.quote(str(wandb_offline_dir))}")
    lines.append(RULE)
    return "\n".join(lines)


def print_summary(
    metrics: Mapping[str, Any],
    output_dir: str | Path,
    best_checkpoint: str | Path | None = None,
    wandb_offline_dir: str | Path | None = None,
    file: TextIO | None = None,
) -> str:
    """Print the block to stdout in one write (and flush: the process may exit right after)."""
    text = format_summary(metrics, output_dir, best_checkpoint, wandb_offline_dir)
    out = file if file is not None else sys.stdout
    out.write(text + "\n")
    out.flush()
    return text


def offline_wandb_dir(loggers: Iterable[Any]) -> str | None:
    """The folder ``wandb sync`` needs for an offline W&B run among Lightning ``loggers``, else None.

    Only a run that already exists is asked (``WandbLogger.experiment`` would start one), and only
    an offline one: an online run is synced already. W&B's ``settings.sync_dir`` is
    ``<save_dir>/wandb/offline-run-<time>-<id>``.
    """
    for lg in loggers:
        if type(lg).__name__ != "WandbLogger":
            continue
        run = getattr(lg, "_experiment", None)
        if run is None:
            continue
        settings = getattr(run, "settings", None)
        offline = getattr(run, "offline", None)
        if offline is None and settings is not None:
            offline = getattr(settings, "_offline", None)
        sync_dir = getattr(settings, "sync_dir", None) if settings is not None else None
        if offline and sync_dir:
            return str(sync_dir)
    return None
