"""POST /recommend: a trained SASRec run ranks the next items for a history of ids or titles."""

from __future__ import annotations

import json

import pytest

from tests.conftest import compose
from tests.rec_fixture import rec_overrides, write_ml100k
from tunelab.errors import ConfigError
from tunelab.serving.limits import Limits, Refusal


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tunelab.training import train

    ml = write_ml100k(tmp_path_factory.mktemp("ml100k"))
    out = tmp_path_factory.mktemp("sasrec_run")
    train(compose(rec_overrides(ml, out, "+experiment=rec_ml100k_sasrec", "trainer.max_epochs=2",
                                "trainer.check_val_every_n_epoch=1")))
    return out


def test_recommends_k_unseen_items_for_ids_or_titles(run):
    from tunelab.recommend.recommender import Recommender, UnknownItem

    rec = Recommender(run)
    history = ["1", 2, "charlie story (1993)"]  # an id, an int id, a title in another case
    items = rec(history, k=5)
    assert len(items) == 5 and not {"1", "2", "3"} & {it["id"] for it in items}
    assert items[0]["score"] >= items[-1]["score"] and items[0]["title"].endswith(")")
    assert len(rec(history, k=30, exclude_seen=False)) == 30  # every item, seen ones too
    with pytest.raises(UnknownItem, match=r"^history: 'Nope \(2020\)' is neither an item id nor a title"):
        rec(["Nope (2020)"])


def test_route_answers_and_refuses_unknown_items(run):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from tunelab.serving.recommend import add_recommend_route

    app = FastAPI()
    add_recommend_route(app, str(run))
    client = TestClient(app)
    got = client.post("/recommend", json={"history": ["1", "2"], "k": 3})
    assert got.status_code == 200 and len(got.json()["items"]) == 3
    bad = client.post("/recommend", json={"history": ["zzz"]})
    assert bad.status_code == 422 and "zzz" in bad.json()["error"]


def test_bad_bodies_and_run_dirs_are_refused_in_one_line(run, tmp_path):
    from tunelab.recommend.recommender import Recommender
    from tunelab.serving.recommend import recommend_validator

    check = recommend_validator(Limits())
    for body, status, msg in ((b'{"history": []}', 422, "history: empty"), (b'{"history": ["1"], "k": 0}', 422, "k: 0"),
                              (b'{"history": ["1"], "x": 1}', 422, "x:"), (b"{", 400, "malformed JSON")):
        with pytest.raises(Refusal) as err:
            check(body)
        assert err.value.status == status and msg in str(err.value), body
    (tmp_path / "run_info.json").write_text(json.dumps({"config": {"rec": {"name": "rerank"}}}))
    with pytest.raises(ConfigError, match=r"^recommender: .* is a rerank run; /recommend ranks the catalogue with sasrec or text"):
        Recommender(tmp_path)
    with pytest.raises(ConfigError, match=r"^recommender: .* has no run_info.json"):
        Recommender(tmp_path / "nope")
