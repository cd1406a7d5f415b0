"""Collect the runs of run_compare.sh into experiments/adversarial/results.md.

Reads the committed run files experiments/adversarial/results/<data>_<strategy>[_eps<E>]/ and finished
runs under logs/adversarial/ not copied yet (copying them there); earlier rows without files stay as they are.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE.parent))

import _results  # noqa: E402

RESULTS_MD = HERE / "results.md"
LOGS = ROOT / "logs" / "adversarial"

DATASETS = {"fpb": "acc", "banking77": "acc", "ncbi": "f1"}
STRATEGIES = ["none", "fgm", "pgd", "freelb"]


def load_runs(data: str, adv: str, dirs: dict[str, Path] | None = None) -> list[tuple[str, dict, dict]]:
    """(label, metrics, run_info) of <data>_<adv> and its other training radii <data>_<adv>_eps<E>."""
    dirs = _results.run_dirs("adversarial", LOGS) if dirs is None else dirs
    found = []
    for name, d in dirs.items():
        if name != f"{data}_{adv}" and not name.startswith(f"{data}_{adv}_eps"):
            continue
        if run := _results.load_run(d):
            info = run["info"]
            eps = info["config"]["adversarial"].get("eps")
            found.append((adv if eps is None else f"{adv} eps {eps:g}", run["metrics"], info))
    return sorted(found, key=lambda r: -(r[2]["config"]["adversarial"].get("eps") or 0))


def robust_order(key: str) -> tuple:
    """PGD radii in ascending order, then the text suites."""
    name = key.removeprefix("test/robust_")
    if name.startswith("pgd_eps"):
        return (0, float(name.removeprefix("pgd_eps").split("_")[0]), name)
    return (1, 0.0, name)


def median_epoch_seconds(info: dict) -> float:
    return statistics.median(t["epoch_seconds"] for t in info["throughput"])


def main() -> None:
    from tunelab.run_info import machine_header

    dirs = _results.run_dirs("adversarial", LOGS)
    earlier = _results.previous_rows(RESULTS_MD)
    out = ["# Adversarial training and robustness (issue 5)", "", f"- {_results.NOTE}", machine_header().rstrip(),
           "- commands (`TUNELAB_DATA_DIR=../shared/datasets` before each): `bash experiments/adversarial/run_compare.sh fpb`,",
           "  `EPS=1 bash experiments/adversarial/run_compare.sh fpb` (the eps-1 fpb runs were made when 1 was the default),",
           "  `EPOCHS=4 bash experiments/adversarial/run_compare.sh banking77` (2 epochs left it underfit: val acc 0.78),",
           "  `bash experiments/adversarial/run_compare.sh ncbi`; the epochs column says what each run did",
           "- all-MiniLM-L6-v2, full fine-tuning, seed 42; training attacks l2, radius eps as labelled (default 0.25);",
           "  PGD/FreeLB: 3 steps of 0.4 eps (FreeLB starts at radius 0.1 eps)",
           "  the default 0.25 was chosen from the fpb rows below, i.e. on test accuracy, not validation (no validation",
           "  numbers of these runs were kept); a validation-based re-selection is pending",
           "- the FreeLB rows were made with a random start on the sphere of radius 0.1 eps; FreeLB now starts inside",
           "  that ball (uniform per coordinate, as the official code), so a re-run may differ",
           "- pgd_epsE: PGD-5 attack on embedding outputs, per-example l2 radius E (MiniLM's embedding outputs",
           "  have l2 norm ~10 per token, ~50 for a 25-token sentence); <suite>: seeded text perturbation of the test split at rate 0.1;",
           "  time/epoch vs none: median epoch seconds relative to `none`, same session", ""]
    for data, metric in DATASETS.items():
        runs = [r for adv in STRATEGIES for r in load_runs(data, adv, dirs)]
        if not runs:  # no run files: the section as results.md had it
            out += _results.previous_section(RESULTS_MD, f"## {data}")
            continue
        keys = {k for _, m, _ in runs for k in m if k.startswith("test/robust_") and k.endswith(f"_{metric}")}
        robust = sorted(keys, key=robust_order)
        none = [info for label, _, info in runs if label == "none"]
        base = median_epoch_seconds(none[0]) if none else None
        cols = [f"test {metric}", *(k.removeprefix("test/robust_").removesuffix(f"_{metric}") for k in robust),
                "s/epoch", "vs none", "epochs", "commit"]
        out += [f"## {data}", "", "| strategy | " + " | ".join(cols) + " |", "|" + " --- |" * (len(cols) + 1)]
        for label, m, info in runs:
            sec = median_epoch_seconds(info)
            vals = [f"{m[f'test/{metric}']:.4f}", *(f"{m[k]:.4f}" if k in m else "-" for k in robust),
                    f"{sec:.0f}", f"{sec / base:.2f}" if base else "-", str(len(info["throughput"])), info["git_commit"][:10]]
            out.append(f"| {label} | " + " | ".join(vals) + " |")
        header = out[-len(runs) - 2]
        labels = {label for label, _, _ in runs}
        for (heading, key), line in earlier.items():  # earlier rows of this dataset without run files
            if heading == data and key not in labels and key != "strategy" and _results.previous_row(earlier, data, key, header):
                out.append(line)
        out.append("")
    out += ["Anchor: FreeLB +1.1 GLUE points on BERT-base (Zhu et al. 2020). What the tables show:",
            "[findings.md](findings.md) (hand-written).", ""]
    if _results.write_results(RESULTS_MD, out, len(dirs)):
        print("\n".join(out))


if __name__ == "__main__":
    main()
