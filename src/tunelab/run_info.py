"""What a run records about itself: config, parameter counts, data fingerprint, git commit."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """The commit of the code that ran (``+dirty`` when the tree has uncommitted changes)."""
    where = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10)
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically: a crash never leaves a half-written file behind.

    The temporary name is unique per writer (``mkstemp``), so two processes writing the same
    path (e.g. DDP ranks) cannot rename each other's temporary file away; the last rename wins.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it 0600; results files are meant to be shared
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_floats(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in sorted(metrics.items())}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_header() -> str:
    """Date, commit and machine lines that head every committed results table."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}\n"
        f"- commit: {git_commit()}\n"
        f"- machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, {gpu}\n"
    )


def model_source(name_or_path: str | None) -> dict | None:
    """Where a zoo backbone's weights came from (route, checksum, lossy note), for run_info.json.

    None for anything that is not a cached zoo name (local folders and hub ids record themselves
    in the config)."""
    if not name_or_path:
        return None
    from tunelab.zoo import cache, catalog

    if name_or_path not in catalog.MODELS or catalog.MODELS[name_or_path].installed:
        return None
    folder = cache.model_dir(name_or_path)
    if not cache.is_complete(folder):
        return None
    marker = cache.read_marker(folder)
    keep = ("name", "route", "sha256", "requirements", "members", "note", "created")
    return {k: marker[k] for k in keep if k in marker}
