"""experiments/continual/collect.py: the summary over orders, the gap closed, the best strategy's heatmap."""

from __future__ import annotations

import importlib.util
import json

from tests.conftest import ROOT


def _collect():
    spec = importlib.util.spec_from_file_location("collect_continual", ROOT / "experiments" / "continual" / "collect.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(results, name, strategy, order, acc, bwt=-0.1, setting="task_incremental"):
    folder = results / name
    folder.mkdir(parents=True)
    (folder / "R.png").write_bytes(b"png")
    cost = {"fit_s": 10.0, "finish_s": 1.0, "score_s": 2.0, "stage_s": 13.0 if strategy == "seq" else 26.0,
            "peak_rss_bytes_so_far": 2**30}
    (folder / "cl_metrics.json").write_text(json.dumps({
        "sequence": "cl_lfpt5", "setting": setting, "setting_note": "task id given", "order": order,
        "strategy": {"name": strategy}, "method": {"name": "full"}, "model": "minilm", "acc": acc, "bwt": bwt,
        "fwt": 0.0, "forgetting": 0.1, "wall_time_s": 100.0, "trainable_params": 1234, "costs": [cost, cost],
        "epochs_per_task": 5, "seed": 42, "git_commit": "abcdef1234567",
        "data": {"mnli": {"caps": {"test": 300}, "dropped_no_gold_label": {"test": 7}}}}))


def test_summary_means_over_orders_and_gap_closed_per_order(tmp_path, monkeypatch):
    collect = _collect()
    monkeypatch.setattr(collect, "RESULTS", tmp_path)
    # order a: seq 0.40, mtl 0.80, replay 0.60 -> 50%; order b: seq 0.50, mtl 0.70, replay 0.66 -> 80%
    for order, (s, m, r, e) in {"a": (0.40, 0.80, 0.60, 0.45), "b": (0.50, 0.70, 0.66, 0.55)}.items():
        for name, acc in (("seq", s), ("mtl", m), ("replay", r), ("ewc", e)):
            _run(tmp_path, f"cl_lfpt5_{order}_{name}", name, order, acc)
    runs = collect.load_runs(tmp_path)
    text = collect.render(runs, "- date: x\n")
    rows = {line.split(" | ")[2]: line for line in text.splitlines() if line.startswith("| cl_lfpt5 | task_incremental | ")
            and line.count("|") == 13 and "±" in line}
    assert "| 63.0 ± 4.2 |" in rows["replay"] and "| 65 ± 21% |" in rows["replay"]  # ACC mean ± std; gap 50%, 80%
    assert "| 45.0 ± 7.1 |" in rows["seq"] and "| 0 ± 0% |" in rows["seq"]
    # the best strategy is replay (mean ACC 63.0 > ewc 50.0), shown beside seq, first order
    assert "![R cl_lfpt5_a_seq](results/cl_lfpt5_a_seq/R.png)" in text
    assert "![R cl_lfpt5_a_replay](results/cl_lfpt5_a_replay/R.png)" in text and "cl_lfpt5_a_ewc/R.png" not in text
    assert "| cl_lfpt5 | task_incremental | a | replay | 10.0 | 1.0 | 2.0 | 26.0 | 2.00 | 1024 | n/a |" in text
    assert "dropped, no gold label: mnli {'test': 7}" in text and "O-LoRA 72.2" in text


def test_settings_are_kept_apart(tmp_path, monkeypatch):
    collect = _collect()
    _run(tmp_path, "inc_seq", "seq", "a", 0.9)
    _run(tmp_path, "agn_seq", "seq", "a", 0.3, setting="task_agnostic")
    text = collect.render(collect.load_runs(tmp_path), "")
    assert "| cl_lfpt5 | task_agnostic | seq | full | 1 | 30.0 |" in text
    assert "| cl_lfpt5 | task_incremental | seq | full | 1 | 90.0 |" in text
