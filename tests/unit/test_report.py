"""The run report (``python -m tunelab.report``) on a hand-built multirun folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import read_finished_wandb_run
from tunelab import report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# (job, lr, r, val/f1, test/f1, wall seconds); job 3 is a failed trial with no metrics.
JOBS = [("0", "1e-4", "4", 0.50, 0.45, 120.0), ("1", "1e-3", "8", 0.70, 0.65, 90.0),
        ("2", "1e-2", "8", 0.60, 0.55, 60.0)]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_fake_runs(root: Path) -> Path:
    """A multirun folder as Hydra + the Optuna sweeper leave it: jobs 0-2 finished, 3 failed."""
    for job, lr, r, val, test, wall in JOBS:
        d = root / job
        _write(d / ".hydra" / "overrides.yaml", f"- +experiment=lora_ncbi\n- optim.lr={lr}\n- method.r={r}\n")
        metrics = {"test/f1": test, "val/f1": val, "val/loss": 1 - val}
        if job == "2":
            metrics["test/robust_typo_f1"] = test - 0.1  # a column only one run has
        _write(d / "metrics.json", json.dumps(metrics, sort_keys=True))
        _write(d / "run_info.json", json.dumps({
            "config": {"optim": {"lr": float(lr)}}, "parameters": {"trainable": 10, "total": 100},
            "wall_time_s": wall, "throughput": [{"epoch": 0, "epoch_seconds": 1.0, "samples_per_s": 9.0}]}))
        # CSVLogger rows are sparse: train/loss on step rows, val/* on epoch-end rows.
        rows = ["epoch,step,train/loss,val/f1,val/loss"]
        for epoch in range(3):
            rows.append(f"{epoch},{epoch * 10 + 4},{1.0 - 0.2 * epoch},,")
            rows.append(f"{epoch},{epoch * 10 + 9},,{val - 0.1 * (2 - epoch)},{1 - val}")
        _write(d / "csv" / "metrics.csv", "\n".join(rows) + "\n")
    failed = root / "3"
    _write(failed / ".hydra" / "overrides.yaml", "- +experiment=lora_ncbi\n- optim.lr=3e-3\n- method.r=8\n")
    _write(failed / "run_info.json", json.dumps({"config": {}}))
    _write(failed / "failed.json", json.dumps({"error": "CUDA out of memory"}))
    # Sweep bookkeeping and one finished W&B offline run.
    _write(root / "optimization_results.yaml", "name: optuna\nbest_params:\n  optim.lr: 0.001\nbest_value: 0.7\n")
    _write(root / "multirun.yaml", "hydra: {}\n")
    _real_wandb_offline_run(root / "0")
    return root


def _real_wandb_offline_run(job: Path) -> None:
    """A real W&B offline run (W&B 0.31 keeps it only in its binary run-*.wandb log)."""
    import os

    import wandb

    os.environ["WANDB_SILENT"] = "true"
    run = wandb.init(mode="offline", dir=str(job), project="tunelab", group="ncbi", id="abc123",
                     config={"task_name": "lora_ncbi"}, settings=wandb.Settings(silent=True))
    for epoch in range(2):
        run.log({"val/f1": 0.3 + 0.2 * epoch, "epoch": epoch})
    run.summary["final/val/f1"] = 0.5
    sync_dir = Path(run.settings.sync_dir)
    wandb.finish()
    # the parsed log must be complete before the tests read it (a fresh-clone CI run on a loaded
    # machine once read it before W&B's service had written the run record: id None)
    assert read_finished_wandb_run(sync_dir)["exit_code"] == 0


def _is_png(path: Path) -> bool:
    data = path.read_bytes()
    return len(data) > 100 and data[:8] == PNG_SIGNATURE


def test_find_runs_reads_every_job(tmp_path):
    runs = report.find_runs(make_fake_runs(tmp_path))
    assert [r.name for r in runs] == ["0", "1", "2", "3"]
    assert [r.failed for r in runs] == [False, False, False, True]
    assert runs[0].overrides == {"experiment": "lora_ncbi", "optim.lr": "1e-4", "method.r": "4"}
    assert runs[3].metrics == {} and runs[3].history is None
    # Sparse CSV rows: blank cells are left out.
    assert runs[0].history[0] == {"epoch": 0.0, "step": 4.0, "train/loss": 1.0}
    assert runs[0].history[-1]["val/f1"] == pytest.approx(0.5)


def test_table_rows_columns_and_values(tmp_path):
    runs = report.find_runs(make_fake_runs(tmp_path))
    lines = report.runs_table(runs).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["path", "overrides", "val/f1", "val/loss", "test/f1", "test/robust_typo_f1",
                      "wall time (min)", "status"]
    rows = {cells[0]: cells for cells in ([c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:])}
    assert list(rows) == ["0", "1", "2", "3"]
    # Every run has +experiment=lora_ncbi: it is stated once, not repeated on each row.
    assert report.shared_overrides(runs) == {"experiment": "lora_ncbi"}
    assert rows["0"] == ["0", "optim.lr=1e-4 method.r=4", "0.5000", "0.5000", "0.4500",
                         "", "2.0", "ok"]
    assert rows["2"][5] == "0.4500" and rows["2"][6] == "1.0"
    assert rows["3"][2:] == ["", "", "", "", "", "failed"]
    # An explicit metric list gives exactly those columns.
    assert report.runs_table(runs, ["test/f1"]).splitlines()[0] == "| path | overrides | test/f1 | wall time (min) | status |"


def test_table_shortens_sampled_floats_and_keeps_a_single_run_whole():
    def fake(**overrides):
        return report.Run(Path("x"), overrides, {}, {}, None, False)

    a, b = fake(**{"optim.lr": "0.00019182157424526137", "seed": "1"}), fake(**{"optim.lr": "3e-3", "seed": "1"})
    row = report.runs_table([a, b]).splitlines()[2]
    assert "optim.lr=0.0001918 |" in row and "seed" not in row
    # A lone run has nothing to compare against: its overrides all stay in its row.
    assert report.shared_overrides([a]) == {} and "seed=1" in report.runs_table([a])


def test_default_metric_and_varying_params(tmp_path):
    runs = report.find_runs(make_fake_runs(tmp_path))
    assert report.default_metric(runs) == "val/f1"
    # First val/ key in file order, not alphabetical.
    loss_first = report.Run(Path("x"), {}, {"val/loss": 1.0, "val/f1": 0.5}, {}, None, False)
    assert report.default_metric([loss_first]) == "val/loss"
    # lr spans 2 decades -> log axis; r in {4, 8} -> linear; the constant experiment is not a parameter.
    assert report.varying_params(runs) == {"optim.lr": "log", "method.r": "linear"}

    def fake(**overrides):
        return report.Run(Path("x"), overrides, {}, {}, None, False)

    # 1e-4..3e-3 (the LoRA preset's log-sampled range) spans 1.48 decades: log. 1e-4..5e-4: linear.
    assert report.varying_params([fake(lr="1e-4"), fake(lr="1e-3"), fake(lr="3e-3")]) == {"lr": "log"}
    assert report.varying_params([fake(lr="1e-4"), fake(lr="5e-4")]) == {"lr": "linear"}
    assert report.varying_params([fake(opt="adamw"), fake(opt="sgd")]) == {"opt": "categorical"}
    assert report.varying_params([fake(task_name="a", r="4"), fake(task_name="b", r="8")]) == {"r": "linear"}
    assert report.varying_params([fake(method="lora"), fake()]) == {"method": "categorical"}


def test_val_curve_leaves_out_the_after_fit_validation():
    # Two trained epochs, then train.py's validation of the best checkpoint, logged at epoch 2.
    history = [{"epoch": 0, "step": 4, "train/loss": 1.0}, {"epoch": 0, "step": 9, "val/f1": 0.5},
               {"epoch": 1, "step": 14, "train/loss": 0.8}, {"epoch": 1, "step": 19, "val/f1": 0.7},
               {"epoch": 2, "step": 20, "val/f1": 0.7}, {"epoch": 2, "step": 20, "test/f1": 0.6}]
    assert report.val_curve(history, "val/f1") == [(0, 0.5), (1, 0.7)]
    assert report.val_curve(history, "val/loss") == []
    # An epoch whose training rows fell between log intervals still counts; no training rows: all kept.
    assert report.val_curve([history[1], *history[2:]], "val/f1") == [(0, 0.5), (1, 0.7)]
    assert report.val_curve([history[1], history[4]], "val/f1") == [(0, 0.5), (2, 0.7)]


def test_plots_are_valid_pngs(tmp_path):
    runs = report.find_runs(make_fake_runs(tmp_path / "runs"))
    curves = report.plot_learning_curves(runs, "val/f1", tmp_path / "out")
    assert curves == tmp_path / "out" / "learning_curves.png" and _is_png(curves)
    params = report.plot_params(runs, "val/f1", tmp_path / "out")
    assert sorted(p.name for p in params) == ["param_method.r.png", "param_optim.lr.png"]
    assert all(_is_png(p) for p in params)
    # No CSV history anywhere -> no learning-curve file.
    no_csv = [report.Run(r.path, r.overrides, r.metrics, r.info, None, r.failed) for r in runs]
    assert report.plot_learning_curves(no_csv, "val/f1", tmp_path / "none") is None
    assert not (tmp_path / "none" / "learning_curves.png").exists()


def test_wandb_offline_runs(tmp_path):
    (entry,) = report.wandb_offline_runs(make_fake_runs(tmp_path))
    assert entry["path"].startswith("0/wandb/offline-run-") and entry["path"].endswith("-abc123")
    assert entry["id"] == "abc123" and entry["group"] == "ncbi"
    assert entry["config"]["task_name"] == "lora_ncbi"
    assert entry["summary"]["final/val/f1"] == 0.5
    assert [row["val/f1"] for row in entry["history"]] == pytest.approx([0.3, 0.5])


def test_cli_writes_report(tmp_path, capsys):
    runs_dir = make_fake_runs(tmp_path / "runs")
    out = tmp_path / "out"
    assert report.main([str(runs_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "metric: val/f1" in printed  # the default: first val/ key in metrics.json
    assert "best value 0.7" in printed  # optimization_results.yaml
    table = (out / "report.md").read_text()
    assert table.startswith("overrides shared by every run: experiment=lora_ncbi\n\n| path | overrides | val/f1 |")
    assert "| failed |" in table
    for name in ("learning_curves.png", "param_optim.lr.png", "param_method.r.png"):
        assert _is_png(out / name)
    # Default --out is <dir>/report; an explicit --metric is used as given.
    assert report.main([str(runs_dir), "--metric", "test/f1"]) == 0
    assert "metric: test/f1" in capsys.readouterr().out
    assert _is_png(runs_dir / "report" / "param_optim.lr.png")


def test_cli_module_entry_point(tmp_path):
    runs_dir = make_fake_runs(tmp_path / "runs")
    proc = subprocess.run([sys.executable, "-m", "tunelab.report", str(runs_dir), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "report.md").is_file()


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_no_runs_exits_2(tmp_path, capsys, make):
    target = tmp_path / "nothing"
    if make == "empty":
        (target / "sub").mkdir(parents=True)
    assert report.main([str(target)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {target}: no runs found (looked for metrics.json / run_info.json)\n"


def test_default_metric_is_the_runs_own_monitored_metric(tmp_path, capsys):
    # PubMedQA monitors val/macro_f1; metrics.json is written with sorted keys, so "the first
    # val/ key" was val/acc: the report ranked runs on a metric they never selected on.
    for seed, (acc, f1) in enumerate([(0.55, 0.24), (0.52, 0.41)]):
        d = tmp_path / "runs" / str(seed)
        _write(d / "metrics.json", json.dumps({"val/acc": acc, "val/loss": 1.0, "val/macro_f1": f1}, sort_keys=True))
        _write(d / "run_info.json", json.dumps({"config": {"optimized_metric": "val/macro_f1",
                                                           "data": {"monitor": "val/macro_f1"}}}))
    runs = report.find_runs(tmp_path / "runs")
    assert report.default_metric(runs) == "val/macro_f1"
    assert report.main([str(tmp_path / "runs"), "--out", str(tmp_path / "o")]) == 0
    assert "metric: val/macro_f1" in capsys.readouterr().out
    # Only data.monitor recorded (or an older run_info.json): the same choice.
    only_data = report.Run(Path("x"), {}, {"val/acc": 0.5, "val/macro_f1": 0.3}, {"config": {"data": {"monitor": "val/macro_f1"}}}, None, False)
    assert report.default_metric([only_data]) == "val/macro_f1"
    # No config at all: the first val/ key, as before.
    bare = report.Run(Path("x"), {}, {"val/acc": 0.5, "val/macro_f1": 0.3}, {}, None, False)
    assert report.default_metric([bare]) == "val/acc"
