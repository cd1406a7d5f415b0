"""Committed run files: every table in experiments/*/results.md can be recomputed from git.

A run writes its outputs under logs/ (ignored by git: checkpoints are hundreds of MB). Its three
small result files (metrics.json, run_info.json, test_report.json, popularity.json; a few KB) are copied to
``experiments/<study>/results/<run name>/``, which is committed, and each study's collect.py
reads them from there (and from logs/ for finished runs not copied yet, which it copies).

    python experiments/_results.py copy <study> <run dir> [<run name>]   # what the run scripts call

Runs made before this existed left no files (their logs were never committed): their rows live
only in the results.md tables. ``previous_rows``/``previous_section`` let a collect.py keep such
rows when it rewrites results.md, and ``NOTE`` says so at the top of every results.md.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parent
ROOT = EXPERIMENTS.parent
RESULT_FILES = ("metrics.json", "run_info.json", "test_report.json", "popularity.json")
REQUIRED = ("metrics.json", "run_info.json")  # a run without these did not finish
NOTE = "run files committed from 2026-12-04 (experiments/<study>/results/); earlier rows: the table only"


def results_dir(study: str) -> Path:
    return EXPERIMENTS / study / "results"


def finished(run_dir: Path) -> bool:
    return all((run_dir / f).is_file() for f in REQUIRED)


def copy_run(study: str, run_dir: str | Path, name: str | None = None) -> Path | None:
    """Copy a finished run's small result files to experiments/<study>/results/<name>/ (None if unfinished)."""
    run_dir = Path(run_dir)
    if not finished(run_dir):
        return None
    dest = results_dir(study) / (name or run_dir.name)
    dest.mkdir(parents=True, exist_ok=True)
    for f in RESULT_FILES:
        if (run_dir / f).is_file():
            shutil.copyfile(run_dir / f, dest / f)
    return dest


def run_dirs(study: str, logs: str | Path | None = None, adopt: bool = True) -> dict[str, Path]:
    """Finished runs by name: committed ones first, then runs under ``logs`` not committed yet.

    With ``adopt`` a finished run found only under ``logs`` is copied into results/ (so the next
    commit holds it) and read from there.
    """
    found: dict[str, Path] = {}
    res = results_dir(study)
    if res.is_dir():
        found = {d.name: d for d in sorted(res.iterdir()) if d.is_dir() and finished(d)}
    if logs is not None and Path(logs).is_dir():
        for d in sorted(Path(logs).iterdir()):
            if d.is_dir() and d.name not in found and finished(d):
                copied = copy_run(study, d) if adopt else None
                found[d.name] = copied or d
    return dict(sorted(found.items()))


def load_run(run_dir: Path) -> dict | None:
    """{"name", "dir", "metrics", "info", "report" (or None)} of a finished run folder."""
    if not finished(run_dir):
        return None
    report = run_dir / "test_report.json"
    return {"name": run_dir.name, "dir": run_dir,
            "metrics": json.loads((run_dir / "metrics.json").read_text()),
            "info": json.loads((run_dir / "run_info.json").read_text()),
            "report": json.loads(report.read_text()) if report.is_file() else None}


# ----------------------------------------------------------------------------- earlier rows


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def previous_rows(results_md: Path) -> dict[tuple[str, str], str]:
    """Table rows of an existing results.md, keyed by (section heading, first cell)."""
    rows: dict[tuple[str, str], str] = {}
    if not results_md.is_file():
        return rows
    heading = ""
    for line in results_md.read_text().splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and not set(line) <= set("|- "):
            rows.setdefault((heading, _cells(line)[0]), line)
    return rows


def previous_row(rows: dict[tuple[str, str], str], heading: str, key: str, header_line: str) -> str | None:
    """The earlier row for ``key`` under ``heading`` if it has the same columns as ``header_line``."""
    line = rows.get((heading.lstrip("#").strip(), key))
    if line is None or len(_cells(line)) != len(_cells(header_line)):
        return None
    return line


def previous_section(results_md: Path, heading_prefix: str) -> list[str]:
    """The lines of the section whose heading starts with ``heading_prefix`` (heading included)."""
    if not results_md.is_file():
        return []
    out: list[str] = []
    for line in results_md.read_text().splitlines():
        if out and line.startswith("## "):
            break
        if out or line.startswith(heading_prefix):
            out.append(line)
    return out


def write_results(results_md: Path, lines: list[str], n_runs: int) -> bool:
    """Write results.md, unless no run file at all was found (then the old tables stay as they are)."""
    if n_runs == 0:
        print(f"no run files for {results_md.parent.name} (results/ or logs/): {results_md} left as it is")
        return False
    results_md.write_text("\n".join(lines))
    return True


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "copy":
        dest = copy_run(argv[1], argv[2], argv[3] if len(argv) > 3 else None)
        print(f"copied {argv[2]} -> {dest}" if dest else f"not finished, nothing copied: {argv[2]}")
        return 0
    print("usage: python experiments/_results.py copy <study> <run dir> [<run name>]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
