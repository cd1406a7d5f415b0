"""Error handling shared by the Hydra entry points: bad input is one line and exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from tunelab.errors import TunelabError


def run_or_exit(fn: Callable, *args):
    try:
        return fn(*args)
    except TunelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def check_experiment_override(argv: list[str], conf_dir: Path) -> None:
    """Fail fast, in one line, on ``+experiment=NAME`` naming no file (Hydra's message spans many)."""
    for arg in argv:
        key, sep, value = arg.lstrip("+~").partition("=")
        if sep and key in ("experiment", "hparams_search", "debug") and value and value != "null":
            group = conf_dir / key
            for name in value.split(","):  # multirun comma lists
                if not (group / f"{name}.yaml").is_file():
                    available = sorted(p.stem for p in group.glob("*.yaml") if not p.stem.startswith("_"))
                    print(f"error: {key}={name}: no such config in {group}; available: {', '.join(available)}", file=sys.stderr)
                    sys.exit(2)
