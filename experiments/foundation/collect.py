"""Collect the real runs of run_real.sh into experiments/foundation/results.md.

Reads the committed run files experiments/foundation/results/<experiment>/ and finished runs under
logs/foundation/ not copied yet (copying them there); earlier rows without files stay as they are.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

import _results  # noqa: E402

RESULTS_MD = HERE / "results.md"
LOGS = ROOT / "logs" / "foundation"
HEADER = "| command | result | schedule | train/val/test | wall time | commit | published anchor |"

ANCHORS = {
    "full_ncbi": "BERT-base 85.7 F1 (BLURB)",
    "full_fpb": "FinBERT acc 0.86 (Araci 2019; different split)",
    "full_atec": "BERT-base acc 0.737 on CLUE's AFQMC (a re-split of ATEC; Chinese backbone)",
}
HEADING = "Foundation: full fine-tuning of all-MiniLM-L6-v2 on the real datasets"
ORDER = ["full_ncbi", "full_bc5cdr", "full_cmedqa_ner", "full_fpb", "full_banking77", "full_chnsenticorp", "full_atec"]


def row(name: str, run: Path) -> str | None:
    m, info = run / "metrics.json", run / "run_info.json"
    if not m.is_file() or not info.is_file():
        return None
    metrics, info = json.loads(m.read_text()), json.loads(info.read_text())
    if "test/f1" in metrics:
        main = f"test F1 **{metrics['test/f1']:.4f}** (P {metrics['test/precision']:.4f}, R {metrics['test/recall']:.4f}); val F1 {metrics['val/f1']:.4f}"
    else:
        main = (f"test acc **{metrics['test/acc']:.4f}**, macro-F1 **{metrics['test/macro_f1']:.4f}**; "
                f"val acc {metrics['val/acc']:.4f}")
    cfg = info["config"]
    epochs = len(info.get("throughput", []))
    split = info["data"].get("split")
    split_s = f"seeded split {split['fractions']} seed {split['seed']}" if split else "official splits"
    sizes = info["data"]["sizes"]
    tp = info.get("throughput") or [{}]
    sps = sum(t.get("samples_per_s", 0) for t in tp) / max(len(tp), 1)
    return (f"| `python train.py +experiment={name}` | {main} | {epochs}/{cfg['trainer']['max_epochs']} epochs, "
            f"lr {cfg['optim']['lr']}, bs {cfg['data']['batch_size']}, max_len {cfg['data']['max_length']} | "
            f"{sizes['train']}/{sizes['validation']}/{sizes['test']}, {split_s} | {info['wall_time_s'] / 60:.1f} min "
            f"({sps:.1f} train samples/s) | {info['git_commit'][:12]} | {ANCHORS.get(name, '')} |")


def main() -> None:
    from tunelab.run_info import machine_header as header

    dirs = _results.run_dirs("foundation", LOGS)
    earlier = _results.previous_rows(RESULTS_MD)
    rows = []
    for n in ORDER:
        r = row(n, dirs[n]) if n in dirs else None
        # No run files: the row as the table had it (keyed by its command cell).
        r = r or _results.previous_row(earlier, HEADING, f"`python train.py +experiment={n}`", HEADER)
        rows += [r] if r else []
    lines = [
        f"# {HEADING}", "", f"- {_results.NOTE}",
        header().rstrip(),
        "- data: ../shared/datasets (TUNELAB_DATA_DIR); metrics of the best validation checkpoint;",
        "  NER scores are strict IOB2 entity level over the whole split (words, not sub-tokens)",
        "- one seed (42) per experiment; epochs run / max (early stopping patience 3)", "",
        HEADER,
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows, "",
        "Notes:",
        "- Run under `experiments/foundation/run_real.sh` (one run at a time, 2 torch threads); wall times include",
        "  loading, validation and the final validate/test of the best checkpoint, and were stretched by test",
        "  suites running beside the trainings, so read them as upper bounds.",
        "- cMedQANER, ChnSentiCorp and ATEC are Chinese: MiniLM's English uncased WordPiece maps 68% of cMedQANER",
        "  characters to [UNK] (measured on the first 50,000 training characters), which caps what it can learn;",
        "  a Chinese backbone (`model.name_or_path=<folder>`) is the fix, not more epochs.",
        "- The commits named here predate a .gitignore fix (an unanchored `data/` pattern kept",
        "  src/tunelab/data/ and conf/data/ out of git until commit 'gitignore: anchor output dirs'). Each run used",
        "  the working tree at its start; the data code changed in between only on paths these single-process",
        "  classification/NER runs do not take (DDP evaluation sharding, multiple-choice truncation, perturbed loaders).",
        "",
    ]
    if _results.write_results(RESULTS_MD, lines, len(dirs)):
        print("\n".join(lines))


if __name__ == "__main__":
    main()
