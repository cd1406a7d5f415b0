"""experiments/backbones/collect.py: the BC5CDR per-type table, mean over seeds, from test_report.json."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT


def test_per_type_f1_is_the_mean_over_seeds_and_skips_the_averages():
    spec = importlib.util.spec_from_file_location("collect_backbones", ROOT / "experiments" / "backbones" / "collect.py")
    collect = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(collect)
    rep = lambda c, d: {"Chemical": {"f1": c}, "Disease": {"f1": d}, "micro avg": {"f1": 0.5}}  # noqa: E731
    found = [("mpnet", [{"report": rep(0.90, 0.80)}, {"report": rep(0.92, 0.84)}]), ("minilm", [{"report": rep(0.85, 0.75)}])]
    lines = collect.per_type(found)
    assert "| model | Chemical | Disease |" in lines and not any("avg" in line for line in lines)
    mp = next(line for line in lines if line.startswith("| mpnet"))
    assert mp.startswith("| mpnet | 0.9100") and "0.8200" in mp
    assert "| minilm | 0.8500 | 0.7500 |" in lines
    assert collect.per_type([("mpnet", [{"report": None}])]) == []
