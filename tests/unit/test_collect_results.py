"""experiments/*/collect.py recompute their tables from committed run files (experiments/_results.py).

Each test points a collect script at a temporary experiments folder holding fake run files and a
copy of the real results.md, and checks what the rewritten results.md says.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

EXP = ROOT / "experiments"
sys.path.insert(0, str(EXP))
import _results  # noqa: E402


def _load_collect(study: str):
    spec = importlib.util.spec_from_file_location(f"collect_{study}", EXP / study / "collect.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_files(folder: Path, metrics: dict, info: dict, report: dict | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "run_info.json").write_text(json.dumps(info))
    if report is not None:
        (folder / "test_report.json").write_text(json.dumps(report))
    return folder


def _info(**extra) -> dict:
    return {"parameters": {"trainable_pct": 0.33, "total": 22_000_000}, "git_commit": "abcdef1234567890",
            "throughput": [{"epoch": 0, "epoch_seconds": 100.0, "peak_mem_mb": 2000, "samples_per_s": 50.0}],
            "checkpoint_bytes": 2**20, "wall_time_s": 600.0, **extra}


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """experiments/ and logs/ under tmp_path, with a copy of each real results.md."""
    exp, logs = tmp_path / "experiments", tmp_path / "logs"
    for study in ("peft", "adversarial", "foundation", "pretraining"):
        (exp / study).mkdir(parents=True)
        shutil.copyfile(EXP / study / "results.md", exp / study / "results.md")
    monkeypatch.setattr(_results, "EXPERIMENTS", exp)
    return exp, logs


def _point(module, exp: Path, logs: Path, study: str, monkeypatch, logs_attr: str | None = "LOGS", sub: str | None = None):
    monkeypatch.setattr(module, "RESULTS_MD", exp / study / "results.md")
    if logs_attr:
        monkeypatch.setattr(module, logs_attr, logs / (sub or study))
    return exp / study / "results.md"


def test_copy_run_copies_the_small_files_of_finished_runs(sandbox, tmp_path):
    run = _run_files(tmp_path / "logs" / "x_s1", {"test/f1": 0.5}, _info(), {"Disease": {"f1": 0.5}})
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"big")
    dest = _results.copy_run("peft", run)
    assert dest == sandbox[0] / "peft" / "results" / "x_s1"
    assert sorted(p.name for p in dest.iterdir()) == ["metrics.json", "run_info.json", "test_report.json"]
    unfinished = tmp_path / "logs" / "y_s1"
    unfinished.mkdir()
    (unfinished / "run_info.json").write_text("{}")  # written at the start of a run; no metrics.json yet
    assert _results.copy_run("peft", unfinished) is None


@pytest.mark.parametrize("study, logs_attr, sub", [("peft", "LOGS", "peft"), ("adversarial", "LOGS", "adversarial"),
                                                   ("foundation", "LOGS", "foundation"), ("pretraining", "LOGS", None)])
def test_without_run_files_the_committed_tables_stay_as_they_are(sandbox, monkeypatch, study, logs_attr, sub):
    exp, logs = sandbox
    module = _load_collect(study)
    md = _point(module, exp, logs, study, monkeypatch, logs_attr, sub)
    if study == "pretraining":
        monkeypatch.setattr(module, "LOGS", logs)
    before = md.read_text()
    module.main()
    assert md.read_text() == before


def test_peft_table_from_committed_files_and_finished_logs_keeps_earlier_rows(sandbox, monkeypatch):
    exp, logs = sandbox
    res = exp / "peft" / "results"
    for seed, f1 in ((1, 0.80), (2, 0.82)):
        _run_files(res / f"full_ncbi_s{seed}", {"test/f1": f1}, _info(), {"Disease": {"recall": 0.8}})
    _run_files(logs / "peft" / "lora_ncbi_s1", {"test/f1": 0.74}, _info(), {"Disease": {"recall": 0.7}})
    (logs / "peft" / "ia3_ncbi_s1").mkdir()  # a run still going: ignored
    module = _load_collect("peft")
    md = _point(module, exp, logs, "peft", monkeypatch)
    earlier = md.read_text().splitlines()
    module.main()
    text = md.read_text()
    lines = text.splitlines()
    assert lines[2] == f"- {_results.NOTE}"
    assert any(line.startswith("| full | 0.8100 ± 0.0141 | 2 | 0.33 | 1.0 | 2000 | 100 | 1.00 | 1/1 | abcdef1234 |")
               for line in lines), text
    assert any(line.startswith("| lora | 0.7400 | 1 |") for line in lines), text
    assert (res / "lora_ncbi_s1" / "metrics.json").is_file()  # the finished log run was copied for committing
    assert not (res / "ia3_ncbi_s1").exists()
    # Rows of earlier runs without files (adapter on NCBI, the PubMedQA table, the MedQA paragraph) stay.
    kept = [line for line in earlier if line.startswith(("| adapter |", "| adalora |", "test accuracy "))]
    assert kept and all(line in lines for line in kept)
    assert "| full | 0.8249 ± 0.0035 |" not in text  # the recomputed row replaced the earlier one


def test_adversarial_row_recomputed_and_earlier_rows_kept(sandbox, monkeypatch):
    exp, logs = sandbox
    metrics = {"test/acc": 0.9, "test/robust_pgd_eps0.1_acc": 0.7, "test/robust_pgd_eps0.25_acc": 0.5,
               "test/robust_pgd_eps0.5_acc": 0.3, "test/robust_pgd_eps1_acc": 0.1, "test/robust_keyboard_acc": 0.88,
               "test/robust_typo_acc": 0.87, "test/robust_word_drop_acc": 0.86, "test/robust_word_dup_acc": 0.89}
    _run_files(exp / "adversarial" / "results" / "fpb_none", metrics, _info(config={"adversarial": {"name": "none"}}))
    module = _load_collect("adversarial")
    md = _point(module, exp, logs, "adversarial", monkeypatch)
    earlier = md.read_text().splitlines()
    module.main()
    lines = md.read_text().splitlines()
    assert "| none | 0.9000 | 0.7000 | 0.5000 | 0.3000 | 0.1000 | 0.8800 | 0.8700 | 0.8600 | 0.8900 | 100 | 1.00 | 1 | abcdef1234 |" in lines
    assert "| none | 0.8268 |" not in "\n".join(lines)
    for prefix in ("| pgd eps 0.25 | 0.8124", "| freelb eps 1 |"):
        (old,) = [line for line in earlier if line.startswith(prefix)]
        assert old in lines
    # Sections without any run file (banking77, ncbi) are kept whole.
    assert _results.previous_section(md, "## banking77") == [
        line for line in _results.previous_section(EXP / "adversarial" / "results.md", "## banking77")]


def test_foundation_row_recomputed_from_a_committed_run(sandbox, monkeypatch):
    exp, logs = sandbox
    info = _info(config={"trainer": {"max_epochs": 5}, "optim": {"lr": 1e-4}, "data": {"batch_size": 16, "max_length": 256}},
                 data={"sizes": {"train": 10, "validation": 2, "test": 3}})
    _run_files(exp / "foundation" / "results" / "full_ncbi",
               {"test/f1": 0.5, "test/precision": 0.4, "test/recall": 0.6, "val/f1": 0.55}, info)
    module = _load_collect("foundation")
    md = _point(module, exp, logs, "foundation", monkeypatch)
    earlier = md.read_text().splitlines()
    module.main()
    lines = md.read_text().splitlines()
    (ncbi,) = [line for line in lines if line.startswith("| `python train.py +experiment=full_ncbi` |")]
    assert "test F1 **0.5000** (P 0.4000, R 0.6000)" in ncbi and "10/2/3, official splits" in ncbi
    (fpb,) = [line for line in earlier if line.startswith("| `python train.py +experiment=full_fpb` |")]
    assert fpb in lines


def test_pretraining_reads_its_runs_and_the_peft_baselines(sandbox, monkeypatch):
    exp, logs = sandbox
    info = _info(config={"seed": 1})
    _run_files(exp / "peft" / "results" / "full_ncbi_s1", {"test/f1": 0.81}, info)  # the baseline lives in peft
    _run_files(logs / "pretraining" / "full_ncbi_from_dapt_s1", {"test/f1": 0.83}, info)
    module = _load_collect("pretraining")
    md = _point(module, exp, logs, "pretraining", monkeypatch, logs_attr=None)
    monkeypatch.setattr(module, "LOGS", logs)
    earlier = md.read_text().splitlines()
    module.main()
    lines = md.read_text().splitlines()
    assert "| all-MiniLM-L6-v2 | 0.8100 | 1 | s1 0.8100 | [1] |" in lines
    assert "| dapt_pubmed export | 0.8300 | 1 | s1 0.8300 | [1] |" in lines
    assert (exp / "pretraining" / "results" / "full_ncbi_from_dapt_s1" / "metrics.json").is_file()
    # The perplexity rows, the sentence under them and the throughput rows come from runs without files: kept.
    for prefix in ("| MiniLM, before DAPT |", "| MiniLM after dapt_pubmed |", "DAPT lowers validation perplexity",
                   "| mlm_pubmed_scratch |", "| clm_pubmed_scratch |"):
        old = [line for line in earlier if line.startswith(prefix)]
        assert old and old[0] in lines, prefix
