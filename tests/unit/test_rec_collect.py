"""experiments/recommendation/collect.py: mean ± std over seeds from committed run files."""

from __future__ import annotations

import importlib.util
import json
import sys

from tests.conftest import ROOT

EXP = ROOT / "experiments"
sys.path.insert(0, str(EXP))
import _results  # noqa: E402


def _collect():
    spec = importlib.util.spec_from_file_location("collect_recommendation", EXP / "recommendation" / "collect.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(folder, metrics, method="lora", **config):
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "run_info.json").write_text(json.dumps({"config": {"method": {"name": method}, **config},
                                                       "git_commit": "abc123def456"}))


def test_table_has_mean_and_std_over_seeds_and_the_reranker_gain(tmp_path, monkeypatch):
    exp, logs = tmp_path / "experiments", tmp_path / "logs"
    (exp / "recommendation").mkdir(parents=True)
    monkeypatch.setattr(_results, "EXPERIMENTS", exp)
    collect = _collect()
    monkeypatch.setattr(collect, "RESULTS_MD", exp / "recommendation" / "results.md")
    monkeypatch.setattr(collect, "LOGS", logs)
    base = {"test/cold_users": 14.0, "cost/train_s": 100.0, "cost/full_ranking_s": 2.0, "params/trainable": 1000.0,
            "test/mrr": 0.1, "test/cold_hr_10": 0.0, "test/cold_ndcg_10": 0.0, "test/cold_mrr": 0.01}
    _run(exp / "recommendation" / "results" / "sasrec_s1", {**base, "test/hr_10": 0.20, "test/ndcg_10": 0.10})
    _run(logs / "sasrec_s2", {**base, "test/hr_10": 0.30, "test/ndcg_10": 0.12})  # finished, not copied yet
    _run(logs / "text_s1", {**base, "test/hr_10": 0.25, "test/ndcg_10": 0.11})
    bucket = {"users": 9.0, "hr_10": 0.1, "ndcg_10": 0.05, "mrr": 0.02}
    (logs / "text_s1" / "popularity.json").write_text(json.dumps({"buckets": {"0-5": bucket, ">5": {**bucket, "ndcg_10": 0.2}}}))
    _run(logs / "rerank_s1", {**base, "test/hr_10": 0.27, "test/first_stage_hr_10": 0.25, "test/gain_hr_10": 0.02,
                              "test/rerank_ms_per_user": 900.0, "test/rerank_users": 100.0, "test/rerank_pairs_per_user": 50.0,
                              "test/ce_only_hr_10": 0.2, "val/rerank_beta": 0.5},
         method="full", rec={"candidates": "logs/recommendation/hybrid_s1/candidates.json"})
    _run(logs / "tune_frozen30_s1", {**base, "val/hr_10": 0.19, "val/ndcg_10": 0.09, "test/hr_10": 0.5, "cost/epochs": 12.0},
         method="head_only", trainer={"max_epochs": 30})
    assert collect.main() == 0
    text = (exp / "recommendation" / "results.md").read_text()
    assert "| sasrec (-) | 2 | 0.2500 ± 0.0707 | 0.1100 ± 0.0141 |" in text
    assert "| text (lora) | 1 | 0.2500 |" in text
    assert "| HR@10 | 0.2500 | 0.2700 | 0.0200 |" in text and "900 ms/user" in text
    assert "| text | 1 | 0.0500 (9) | 0.2000 (9) |" in text  # NDCG@10 by target popularity
    assert "## rerank: reranking the hybrid model's top-50" in text  # the first stage named from rec.candidates
    assert "| cross-encoder alone (beta 0), HR@10 | 0.2500 | 0.2000 | -0.0500 |" in text and "per seed: 0.5 " in text
    assert "| tune_frozen30_s1 | head_only | False | 12 / 30 | 0.1900 | 0.0900 |" in text  # the choice, on validation
    assert "tune_frozen30 (" not in text and "| 0.5000 |" not in text.split("## Choosing")[0]  # not a model row
    assert "HR@10 0.2468 / NDCG@10 0.1286" in text  # the anchors
    assert (exp / "recommendation" / "results" / "sasrec_s2" / "metrics.json").is_file()  # adopted for the commit
