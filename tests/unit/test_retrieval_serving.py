"""``POST /retrieve`` (serving/retrieve.py) on a FastAPI app behind the server's RequestGuard, with a
hand-built 5-pair index (the real MiniLM encoder, a local package): answers and refusals."""

from __future__ import annotations

import pytest

from tests.unit.test_retrieval_index import PAIRS
from tunelab.assistant.retrieval import Embedder, Index
from tunelab.errors import ConfigError
from tunelab.serving.limits import Limits, RequestGuard
from tunelab.serving.retrieve import add_retrieve_route, retrieve_validator


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    path = Index.build(PAIRS, Embedder()).save(tmp_path_factory.mktemp("idx") / "idx.pt")
    app = FastAPI()
    add_retrieve_route(app, str(path))
    app.add_middleware(RequestGuard, validators={"/retrieve": retrieve_validator(Limits(max_texts=3))},
                       max_body_bytes=10_000)
    return TestClient(app)


def test_retrieve_answers_best_first(client):
    r = client.post("/retrieve", json={"question": "please cancel the order I placed", "k": 2})
    assert r.status_code == 200, r.text
    (hits,) = r.json()["results"]
    assert [h["group"] for h in hits][0] == "cancel_order" and len(hits) == 2
    assert hits[0]["response"].startswith("To cancel order {{Order Number}}") and hits[0]["score"] >= hits[1]["score"]
    r = client.post("/retrieve", json={"questions": ["track my parcel delivery", "connect me with a real person"]})
    assert [h[0]["group"] for h in r.json()["results"]] == ["track_order", "contact_human_agent"]
    assert len(r.json()["results"][0]) == 5  # default k, capped by the index size


@pytest.mark.parametrize("body, code, says", [
    ({"k": 2}, 422, 'send exactly one of'),
    ({"question": "a", "questions": ["b"]}, 422, 'send exactly one of'),
    ({"question": "  "}, 422, "question: empty"),
    ({"question": "a", "k": 0}, 422, "k: 0 is outside 1-50"),
    ({"questions": ["a", "b", "c", "d"]}, 413, "4 items, over 3"),
    ({"question": "a", "top": 3}, 422, "top"),
])
def test_retrieve_refusals(client, body, code, says):
    r = client.post("/retrieve", json=body)
    assert r.status_code == code and says in r.text, r.text


def test_a_missing_index_fails_at_start(tmp_path):
    from fastapi import FastAPI

    with pytest.raises(ConfigError, match=r"^index: no such index file"):
        add_retrieve_route(FastAPI(), str(tmp_path / "nope.pt"))


def test_serve_with_an_index_registers_retrieve_beside_generate(tmp_path):
    """build_server (not started) with index=...: /retrieve on LitServe's app, guarded like the rest."""
    from tests.unit.test_clm_pretrained import _llama
    from tests.unit.test_sft_task import _chat_tokenizer
    from tunelab.serving import loading
    from tunelab.serving.app import build_server

    tok = _chat_tokenizer()
    _llama(len(tok)).save_pretrained(tmp_path / "lm")
    tok.save_pretrained(tmp_path / "lm")
    index = Index.build(PAIRS, Embedder()).save(tmp_path / "idx.pt")
    spec = loading.describe(str(tmp_path / "lm"))
    server, _ = build_server({"feedback": str(tmp_path / "f.jsonl"), "index": str(index)}, spec)
    paths = {getattr(r, "path", None) for r in server.app.routes}
    assert {"/generate", "/retrieve", "/feedback"} <= paths
    with pytest.raises(ConfigError, match=r"^index: no such index file"):
        build_server({"feedback": str(tmp_path / "f.jsonl"), "index": str(tmp_path / "nope.pt")}, spec)


def test_an_index_alone_is_served_without_a_model(tmp_path):
    """serve.py index=<index.pt> with no model= (serving/standalone.py): /retrieve behind the guard, /info."""
    from fastapi.testclient import TestClient

    from tunelab.serving.standalone import build_app

    index = Index.build(PAIRS, Embedder()).save(tmp_path / "idx.pt")
    client = TestClient(build_app({"index": str(index)}, Limits(max_texts=3, max_body_bytes=10_000)))
    r = client.post("/retrieve", json={"question": "please cancel the order I placed", "k": 1})
    assert r.status_code == 200 and r.json()["results"][0][0]["group"] == "cancel_order", r.text
    assert client.post("/retrieve", json={"questions": ["a", "b", "c", "d"]}).status_code == 413
    assert client.post("/retrieve", content=b"{").status_code == 400
    assert client.get("/health").status_code == 200 and client.get("/info").json()["model"]["index"] == str(index)
    with pytest.raises(ConfigError, match=r"^index: no such index file"):
        build_app({"index": str(tmp_path / "nope.pt")}, Limits())
