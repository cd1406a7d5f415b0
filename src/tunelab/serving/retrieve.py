"""``POST /retrieve``: the assistant's retriever beside a served model (``serve.py index=<index.pt>``).

Body: ``{"question": str, "k": int (default 5)}`` or ``{"questions": [str, ...], "k": ...}``;
answer: ``{"results": [[{prompt, response, group, score}, ...], ...]}``, one list per question,
best first (exact cosine top-k, ``tunelab.assistant.retrieval``). Like ``/feedback`` it is a
FastAPI route in the HTTP process: the index and its sentence encoder (MiniLM, 22M parameters)
load there on the first request, once; the served model's workers are not involved. A client
(``assist.py``-style) puts the answers it got into its ``POST /generate`` prompt.
"""

from __future__ import annotations

import threading
from typing import Callable

from fastapi import Request  # module level: FastAPI resolves the postponed annotation here
from pydantic import BaseModel, ConfigDict

from tunelab.serving.limits import Limits, Refusal
from tunelab.serving.requests import parse

MAX_K = 50


class RetrieveBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    question: str | None = None
    questions: list[str] | None = None
    k: int = 5


def retrieve_validator(limits: Limits) -> Callable[[bytes], None]:
    def check(body: bytes) -> None:
        req = parse(RetrieveBody, body)
        if (req.question is None) == (req.questions is None):
            raise Refusal(422, 'body: send exactly one of "question" (a string) or "questions" (a list)')
        texts = [req.question] if req.question is not None else req.questions
        if not texts or any(not t.strip() for t in texts):
            raise Refusal(422, "question: empty")
        if len(texts) > limits.max_texts:
            raise Refusal(413, f"questions: {len(texts)} items, over {limits.max_texts} per request (limits.max_texts)")
        if any(len(t) > limits.max_chars for t in texts):
            raise Refusal(413, f"question: over {limits.max_chars} characters (limits.max_chars)")
        if not 1 <= req.k <= MAX_K:
            raise Refusal(422, f"k: {req.k} is outside 1-{MAX_K}")
    return check


class Retriever:
    """The index and its encoder, loaded once on first use (thread-safe)."""

    def __init__(self, index_path: str) -> None:
        self.index_path = str(index_path)
        self._lock = threading.Lock()
        self._loaded = None

    def check(self) -> None:
        """At server start: a missing or foreign index file is one line before anything runs."""
        from tunelab.assistant.retrieval import Index

        Index.load(self.index_path)

    def __call__(self, questions: list[str], k: int) -> list[list[dict]]:
        from tunelab.assistant.retrieval import Index, embedder_for, retrieve

        with self._lock:
            if self._loaded is None:
                index = Index.load(self.index_path)
                self._loaded = (index, embedder_for(index))
            index, embedder = self._loaded
            return retrieve(index, embedder, questions, k)


def add_retrieve_route(app, index_path: str) -> Retriever:
    """Register ``POST /retrieve`` on a FastAPI app (LitServe's); the body is already validated."""
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    retriever = Retriever(index_path)
    retriever.check()

    async def retrieve_route(request: Request):
        body = RetrieveBody.model_validate(await request.json())
        questions = [body.question] if body.question is not None else list(body.questions)
        return JSONResponse({"results": await run_in_threadpool(retriever, questions, body.k)})

    app.add_api_route("/retrieve", retrieve_route, methods=["POST"])
    return retriever
