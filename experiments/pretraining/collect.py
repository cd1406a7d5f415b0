"""Collect the issue-4 runs (experiments/pretraining/run_real.sh) into experiments/pretraining/results.md.

Reads the committed run files experiments/pretraining/results/<run>/ (the NCBI baselines from
experiments/peft/results/full_ncbi_s<seed>/) and finished runs under logs/ not copied yet (copying
them there); rows of earlier runs without files are kept as results.md had them.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LOGS = ROOT / "logs"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE.parent))

import _results  # noqa: E402

RESULTS_MD = HERE / "results.md"
EARLIER: dict = {}  # rows of results.md before this collect, for runs without files


LM_HEADING = "MiniLM on pubmed_text: validation perplexity before and after DAPT"
LM_HEADER = "| model | val perplexity | trainable % | epochs | commit | what trained |"
NCBI_HEADING = "NCBI-disease test entity F1: fine-tuned from DAPT vs from the original MiniLM"
NCBI_HEADER = "| start from | test F1 mean ± std | seeds | per seed | epochs run |"
TP_HEADING = "Training throughput (tokens/s, median over epochs; 2 CPU threads)"
TP_HEADER = "| run | objective | params | val perplexity | epochs | train tokens/s | samples/s |"


def load(d: Path | None) -> dict | None:
    return _results.load_run(d) if d is not None else None


def _earlier(heading: str, key: str, header: str, line: str) -> str:
    """``line``, or the row results.md had for ``key`` when this run left no files."""
    return _results.previous_row(EARLIER, heading, key, header) or line


def mean_std(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs):.4f}" if len(xs) > 1 else f"{xs[0]:.4f}"


def median_epoch(run: dict, key: str) -> float:
    return statistics.median(t[key] for t in run["info"]["throughput"])


def lm_row(label: str, run: dict | None, note: str) -> str:
    if run is None:
        return _earlier(LM_HEADING, label, LM_HEADER, f"| {label} | not run | | | | |")
    i = run["info"]
    return (f"| {label} | {run['metrics']['val/perplexity']:.2f} | {i['parameters']['trainable_pct']:.1f} | "
            f"{len(i['throughput'])} | {i['git_commit'][:10]} | {note} |")


def _earlier_lines(*starts: str) -> list[str]:
    """Prose lines results.md had (read from runs that left no files), then a blank line; [] if none."""
    old = RESULTS_MD.read_text().splitlines() if RESULTS_MD.is_file() else []
    kept = [line for line in old if line.startswith(starts)]
    return kept + [""] if kept else []


def ncbi_row(label: str, runs: list[dict]) -> str:
    if not runs:
        return _earlier(NCBI_HEADING, label, NCBI_HEADER, f"| {label} | - | 0 | | |")
    f1 = [r["metrics"]["test/f1"] for r in runs]
    seeds = ", ".join(f"s{r['info']['config']['seed']} {r['metrics']['test/f1']:.4f}" for r in runs)
    epochs = sorted({len(r["info"]["throughput"]) for r in runs})
    return f"| {label} | {mean_std(f1)} | {len(runs)} | {seeds} | {epochs} |"


def dapt_reading(base: list[dict], dapt: list[dict], before: dict | None) -> list[str]:
    """The F1 difference against its seed noise (standard error of a difference of two means)."""
    if len(base) < 2 or len(dapt) < 2:
        return []
    b, d = ([r["metrics"]["test/f1"] for r in rs] for rs in (base, dapt))
    diff = statistics.mean(d) - statistics.mean(b)
    se = (statistics.variance(b) / len(b) + statistics.variance(d) / len(d)) ** 0.5
    verdict = "beyond" if abs(diff) > 2 * se else "within"
    tokens = before["info"]["data"]["sizes"]["tokens"]["train"] / 1e6 if before else float("nan")
    return [f"DAPT minus original: {diff * 100:+.2f} F1 points, standard error {se * 100:.2f}: {verdict} two standard",
            f"errors of seed noise. One DAPT epoch saw {tokens:.1f}M tokens of PubMed text; Gururangan et al. adapted",
            "RoBERTa-base on 7.55B biomedical tokens before measuring their in-domain gains.", ""]


def main() -> None:
    from tunelab.run_info import machine_header

    EARLIER.update(_results.previous_rows(RESULTS_MD))
    pre = _results.run_dirs("pretraining", LOGS / "pretraining")
    peft = _results.run_dirs("peft", LOGS / "peft")
    before, after = load(pre.get("dapt_pubmed_before")), load(pre.get("dapt_pubmed"))
    base = [r for s in (1, 2, 3) if (r := load(peft.get(f"full_ncbi_s{s}")))]
    dapt = [r for s in (1, 2, 3) if (r := load(pre.get(f"full_ncbi_from_dapt_s{s}")))]
    out = ["# Pretraining (issue 4)", "", f"- {_results.NOTE}", machine_header().rstrip(),
           "- command: `TUNELAB_DATA_DIR=../shared/datasets bash experiments/pretraining/run_real.sh`",
           "- corpus: ../shared/datasets/pubmed_text (train 4720 docs, valid 241 docs), blocks of 128 tokens;",
           "  perplexity is over the whole validation file, masked positions only for MLM (15%, 80/10/10)", "",
           f"## {LM_HEADING}", "", LM_HEADER,
           "| --- | --- | --- | --- | --- | --- |",
           lm_row("MiniLM, before DAPT", before, "only the fresh MLM head (encoder + tied embeddings frozen), 1 epoch"),
           lm_row("MiniLM after dapt_pubmed", after, "everything (fresh head), 1 epoch, lr 5e-5"), ""]
    if before and after:
        b, a = before["metrics"]["val/perplexity"], after["metrics"]["val/perplexity"]
        out += [f"DAPT lowers validation perplexity {b:.2f} -> {a:.2f} ({a / b:.2f}x).", ""]
    else:
        out += _earlier_lines("DAPT lowers validation perplexity")
    out += [f"## {NCBI_HEADING}", "",
            "Same settings for both (full fine-tuning, lr 1e-4, bs 16, max_len 256, 3 epochs); the baseline runs",
            "are the PEFT comparison's full_ncbi runs (logs/peft/full_ncbi_s<seed>).", "",
            NCBI_HEADER, "| --- | --- | --- | --- | --- |",
            ncbi_row("all-MiniLM-L6-v2", base), ncbi_row("dapt_pubmed export", dapt), "",
            *(dapt_reading(base, dapt, after) or _earlier_lines("DAPT minus original", "errors of seed noise",
                                                                "RoBERTa-base on 7.55B")),
            "Anchor: domain-adaptive pretraining improves in-domain tasks (Gururangan et al. 2020).", "",
            f"## {TP_HEADING}", "", TP_HEADER,
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, obj in (("dapt_pubmed", "MLM, MiniLM continued"), ("mlm_pubmed_scratch", "MLM, BERT 4x256 from scratch"),
                      ("clm_pubmed_scratch", "CLM, GPT-2 4x256 from scratch")):
        r = load(pre.get(name))
        if r is None:
            out.append(_earlier(TP_HEADING, name, TP_HEADER, f"| {name} | {obj} | not run | | | | |"))
            continue
        p = r["info"]["parameters"]
        out.append(f"| {name} | {obj} | {p['total'] / 1e6:.1f}M | {r['metrics']['val/perplexity']:.2f} | "
                   f"{len(r['info']['throughput'])} | {median_epoch(r, 'tokens_per_s'):.0f} | "
                   f"{median_epoch(r, 'samples_per_s'):.1f} |")
    out += ["", "Scratch perplexities are over each run's own trained tokenizer (8000 WordPiece / BPE tokens), so",
            "they are not comparable with MiniLM's (30522 WordPiece) or with each other across objectives.", ""]
    if _results.write_results(RESULTS_MD, out, len(pre) + len(base)):
        print("\n".join(out))


if __name__ == "__main__":
    main()
