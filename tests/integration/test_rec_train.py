"""The three recommendation experiments end to end on a synthetic ML-100K-format folder.

Same configs and code path as ``python train.py +experiment=rec_ml100k_*``; the tiny random BERT
stands in for MiniLM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, compose
from tests.rec_fixture import rec_overrides, write_ml100k
from tunelab.errors import ConfigError
from tunelab.recommend.module import BETAS
from tunelab.training import train

METRICS = {"hr_10", "ndcg_10", "mrr", "cold_hr_10", "cold_ndcg_10", "cold_mrr"}


@pytest.fixture(scope="module")
def ml(tmp_path_factory):
    return write_ml100k(tmp_path_factory.mktemp("ml100k"))


def _cfg(ml, out, *extra):
    return compose(rec_overrides(ml, out, *extra))


def test_each_experiment_runs_end_to_end_and_the_reranker_reads_the_text_models_top_k(ml, tmp_path):
    text_out = tmp_path / "text"
    m = train(_cfg(ml, text_out, "+experiment=rec_ml100k_text", "debug=fdr"))
    assert {f"{s}/{k}" for s in ("val", "test") for k in METRICS} <= set(m)
    assert m["test/users"] == 16 and  m["cost/full_ranking_s"] > 0 and m["params/trainable"] > 0
    cands = json.loads((text_out / "candidates.json").read_text())
    assert set(cands["stages"]) == {"train", "val", "test"} and cands["k"] == 50
    some = cands["stages"]["test"]["1"]
    assert len(some["items"]) == 30 - 11  # every unseen item (fewer than k here), none of the 11 seen
    info = json.loads((text_out / "run_info.json").read_text())
    assert info["data"]["split"]["tie_break"] == "seeded shuffle" and info["parameters"]["trainable"] > 0
    pop = json.loads((text_out / "popularity.json").read_text())["buckets"]
    assert sum(b["users"] for b in pop.values()) == len(cands["stages"]["test"])  # every user, in one bucket

    # the experiment's own recipe (1 epoch, validation only after fit: the tested checkpoint predates it)
    m = train(_cfg(ml, tmp_path / "rerank", "+experiment=rec_ml100k_rerank", "rec.eval_users=8",
                   f"rec.candidates={text_out / 'candidates.json'}"))
    assert {"test/hr_10", "test/first_stage_hr_10", "test/gain_ndcg_10", "test/rerank_ms_per_user", "test/ce_only_ndcg_10"} <= set(m)
    assert m["test/rerank_beta"] == m["val/rerank_beta"] in BETAS  # chosen on validation, used at test
    assert json.loads((tmp_path / "rerank" / "metrics.json").read_text()) == pytest.approx(m, nan_ok=True)


def test_hybrid_trains_its_id_vectors_and_is_served(ml, tmp_path):
    import torch

    from tunelab.recommend.recommender import Recommender

    out = tmp_path / "hybrid"
    # max_epochs=1, not fast_dev_run: a checkpoint to serve; cold_max=10: the fixture's items have ~10 training interactions
    m = train(_cfg(ml, out, "+experiment=rec_ml100k_hybrid", "trainer.max_epochs=1", "data.cold_max=10"))
    assert {f"test/{k}" for k in METRICS} <= set(m)
    pop = json.loads((out / "popularity.json").read_text())["buckets"]
    assert sum(b["users"] for b in pop.values()) == m["test/users"]
    assert list(pop) == ["0-10", "11-20", "21-50", "51-100", ">100"]  # the first bucket is the cold subset
    assert 0 < pop["0-10"]["users"] == m["test/cold_users"] < m["test/users"]
    assert pop["0-10"]["mrr"] == pytest.approx(m["test/cold_mrr"]) and pop["0-10"]["hr_10"] == pytest.approx(m["test/cold_hr_10"])
    ckpt = next((out / "checkpoints").glob("*.ckpt"))
    ids = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]["net.tower.ids.weight"]
    assert ids.shape[0] == 31 and ids[0].abs().sum() == 0  # 30 items + padding, which stays zero
    items = Recommender(out)(["1", "2"], k=5)
    assert len(items) == 5 and not {"1", "2"} & {it["id"] for it in items}


def test_sasrec_through_the_cli_writes_metrics_and_run_info(ml, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, "train.py", "+experiment=rec_ml100k_sasrec", "debug=fdr",
                           *rec_overrides(ml, out), f"hydra.run.dir={out}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["test/ndcg_10"] <= metrics["test/hr_10"] <= 1
    assert (out / "run_info.json").is_file() and (out / "candidates.json").is_file()


def test_sasrec_resumed_from_its_last_checkpoint_equals_the_uninterrupted_run(ml, tmp_path):
    from tests.helpers import interrupted_and_uninterrupted

    common = ["+experiment=rec_ml100k_sasrec", "trainer.check_val_every_n_epoch=1", "trainer.max_epochs=3"]
    full, resumed = interrupted_and_uninterrupted(lambda *o: compose(rec_overrides(ml, None, *o)), common, tmp_path,
                                                  stop_after=2)
    keys = [k for k in full if k.startswith(("val/", "test/"))]
    assert keys and {k: resumed[k] for k in keys} == pytest.approx({k: full[k] for k in keys}, abs=1e-6, nan_ok=True)


def test_train_false_scores_the_given_checkpoint_as_the_run_did(ml, tmp_path):
    common = ["+experiment=rec_ml100k_sasrec", "trainer.check_val_every_n_epoch=1", "trainer.max_epochs=2"]
    first = train(_cfg(ml, tmp_path / "run", *common))
    tested = json.loads((tmp_path / "run" / "run_info.json").read_text())["tested_checkpoint"]
    again = train(_cfg(ml, tmp_path / "again", *common, "train=false", f"ckpt_path={tested}"))
    assert {k: v for k, v in again.items() if k.startswith("test/")} == pytest.approx(
        {k: v for k, v in first.items() if k.startswith("test/")}, nan_ok=True)
    fresh = train(_cfg(ml, tmp_path / "fresh", *common, "train=false"))  # no checkpoint: the initial weights
    assert fresh["test/mrr"] != pytest.approx(first["test/mrr"])


def test_reranker_without_candidates_is_one_line_error(ml, tmp_path):
    with pytest.raises(ConfigError, match=r"^rec.candidates: the reranker needs a first stage's top-K"):
        train(_cfg(ml, tmp_path, "+experiment=rec_ml100k_rerank", "debug=fdr"))


def test_candidates_from_another_seed_are_refused(ml, tmp_path):
    train(_cfg(ml, tmp_path / "sas", "+experiment=rec_ml100k_sasrec", "debug=fdr", "seed=1"))
    with pytest.raises(ConfigError, match=r"^rec.candidates: .* was made on the split of seed 1, this run's is 2"):
        train(_cfg(ml, tmp_path / "rr", "+experiment=rec_ml100k_rerank", "debug=fdr", "seed=2",
                   f"rec.candidates={tmp_path / 'sas' / 'candidates.json'}"))


def test_unknown_rec_key_and_unsupported_method_name_the_key(ml, tmp_path):
    with pytest.raises(ConfigError, match=r"^rec.dimm: unknown key \(conf/rec/sasrec.yaml knows .*did you mean rec.dim\?"):
        train(_cfg(ml, tmp_path, "+experiment=rec_ml100k_sasrec", "+rec.dimm=32"))
    with pytest.raises(ConfigError, match=r"^method.name: a recommendation text encoder takes full, lora, adapter, head_only, not 'ia3'"):
        train(_cfg(ml, tmp_path, "+experiment=rec_ml100k_text", "method=ia3", "debug=fdr"))


def test_cli_prints_one_error_line_for_a_missing_ratings_file(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    proc = subprocess.run([sys.executable, "train.py", "+experiment=rec_ml100k_sasrec", "debug=fdr",
                           *rec_overrides(tmp_path / "empty", tmp_path / "run"), f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "u.item: no such file (set TUNELAB_DATA_DIR" in errors[0]
