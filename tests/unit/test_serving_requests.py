"""Request checks (400 malformed JSON, 413 too large, 422 wrong fields/types) and the ASGI guard."""

from __future__ import annotations

import json

import pytest

from tunelab.serving.limits import Limits, Refusal, RequestGuard
from tunelab.serving.requests import (feedback_validator, generate_validator, predict_items,
                                      predict_validator)

LIMITS = Limits(max_texts=3, max_chars=10, max_body_bytes=400, max_new_tokens=20)


def status(check, body) -> int:
    try:
        check(body if isinstance(body, bytes) else json.dumps(body).encode())
    except Refusal as refusal:
        assert refusal.detail and "\n" not in refusal.detail
        return refusal.status
    return 200


@pytest.mark.parametrize("task, body, code", [
    ("token_classification", {"texts": ["a", "", "😀"]}, 200),
    ("token_classification", {"texts": []}, 200),
    ("token_classification", b"{oops", 400),
    ("token_classification", b"\xff\xfe", 400),
    ("token_classification", b"", 400),
    ("token_classification", [1, 2], 422),
    ("token_classification", {"texts": "abc"}, 422),
    ("token_classification", {"texts": [1]}, 422),
    ("token_classification", {"text": ["a"]}, 422),
    ("token_classification", {"pairs": [["a", "b"]]}, 422),
    ("token_classification", {"texts": ["a"] * 4}, 413),
    ("token_classification", {"texts": ["a" * 11]}, 413),
    ("sequence_classification", {"pairs": [["a", "b"]]}, 200),
    ("sentence_pair_classification", {"pairs": [["a", "b"]]}, 200),
    ("sentence_pair_classification", {"texts": ["a"]}, 422),
    ("sentence_pair_classification", {"pairs": [["a"]]}, 422),
    ("sentence_pair_classification", {"pairs": [["a", "b" * 11]]}, 413),
    ("multiple_choice", {"question": "q", "options": ["x", "y"]}, 200),
    ("multiple_choice", {"question": "q", "options": []}, 422),
    ("multiple_choice", {"question": "q", "options": ["x"] * 4}, 413),
    ("multiple_choice", {"question": "q"}, 422),
    ("token_classification", {"texts": ["a"], "adapter": "x"}, 422),
])
def test_predict_refusals(task, body, code):
    assert status(predict_validator(task, LIMITS), body) == code


def test_predict_items():
    assert predict_items({"texts": ["a"]}) == [{"text": "a"}]
    assert predict_items({"pairs": [["a", "b"]]}) == [{"text": "a", "text_pair": "b"}]
    assert predict_items({"question": "q", "options": ["x"]}) == [{"question": "q", "options": ["x"]}]


@pytest.mark.parametrize("body, chat, code", [
    ({"prompt": "hi"}, False, 200),
    ({"prompt": "", "max_new_tokens": 20, "temperature": 0.5, "top_p": 0.9, "seed": 1}, False, 200),
    ({"messages": [{"role": "user", "content": "hi"}]}, True, 200),
    ({"messages": [{"role": "user", "content": "hi"}]}, False, 422),
    ({"messages": [{"role": "robot", "content": "hi"}]}, True, 422),
    ({"prompt": "hi", "messages": []}, True, 422),
    ({}, True, 422),
    ({"prompt": "hi", "max_new_tokens": 21}, False, 422),
    ({"prompt": "hi", "max_new_tokens": 0}, False, 422),
    ({"prompt": "hi", "max_new_tokens": "5"}, False, 422),
    ({"prompt": "hi", "temperature": -1}, False, 422),
    ({"prompt": "hi", "top_p": 0}, False, 422),
    ({"prompt": "x" * 11}, False, 413),
])
def test_generate_refusals(body, chat, code):
    assert status(generate_validator(LIMITS, chat), body) == code


@pytest.mark.parametrize("body, code", [
    ({"text": "had asthma", "prediction": {"entities": []}, "correct": [{"start": 4, "end": 10, "label": "Disease"}]}, 200),
    ({"text": "had asthma", "correct": [{"start": 4, "end": 7, "label": "Disease"}]}, 422),
    ({"text": "had asthma"}, 422),
    ({"text": "x" * 11, "correct": []}, 413),
    (b"[", 400),
])
def test_feedback_refusals(body, code):
    assert status(feedback_validator("token_classification", ["O", "B-Disease", "I-Disease"], LIMITS), body) == code


def test_guard_refuses_before_the_app_and_replays_valid_bodies():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def echo(request):
        return JSONResponse({"got": await request.json(), "type": request.headers.get("content-type")})

    async def stream(request):
        return StreamingResponse(iter(["data: 1\n\n"]))

    app = Starlette(routes=[Route("/predict", echo, methods=["POST"]), Route("/generate", stream, methods=["POST"]),
                            Route("/other", echo, methods=["POST"])])
    guarded = RequestGuard(app, {"/predict": predict_validator("token_classification", LIMITS),
                                 "/generate": generate_validator(LIMITS, False)}, LIMITS.max_body_bytes,
                           sse_paths=["/generate"])
    client = TestClient(guarded)
    ok = client.post("/predict", content=b'{"texts": ["a"]}', headers={"content-type": "application/x-www-form-urlencoded"})
    assert ok.status_code == 200 and ok.json() == {"got": {"texts": ["a"]}, "type": "application/json"}
    assert client.post("/predict", content=b"{").status_code == 400
    big = client.post("/predict", content=json.dumps({"texts": ["a" * 500]}).encode())
    assert big.status_code == 413 and "max_body_bytes" in big.json()["detail"]

    def chunks():  # no Content-Length: refused while reading
        for _ in range(10):
            yield b" " * 100

    assert client.post("/predict", content=chunks()).status_code == 413
    assert client.post("/predict", json={"texts": [7]}).json() == {"detail": "texts.0: Input should be a valid string"}
    sse = client.post("/generate", json={"prompt": "hi"})
    assert sse.headers["content-type"].startswith("text/event-stream")
    assert client.post("/other", content=b'{"x": 1}').json()["got"] == {"x": 1}  # unguarded routes pass through
