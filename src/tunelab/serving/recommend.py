"""``POST /recommend`` (``serve.py recommender=<rec run dir>``): the next items for a history.

Body: ``{"history": [item ids or titles, oldest first], "k": 10, "exclude_seen": true}``; answer:
``{"items": [{id, title, score}, ...]}``, best first (``tunelab.recommend.recommender``: full
ranking of the catalogue by a SASRec or text run). Like ``/retrieve`` it is a FastAPI route in the
HTTP process: the model loads there on the first request, once; the served model's workers are not
involved. An entry that is neither an id nor a title is a 422 naming it.
"""

from __future__ import annotations

from typing import Callable

from fastapi import Request  # module level: FastAPI resolves the postponed annotation here
from pydantic import BaseModel, ConfigDict

from tunelab.serving.limits import Limits, Refusal
from tunelab.serving.requests import parse

MAX_K = 100
MAX_HISTORY = 2000  # ML-100K's longest history is 737 ratings


class RecommendBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    history: list[str | int]
    k: int = 10
    exclude_seen: bool = True


def recommend_validator(limits: Limits) -> Callable[[bytes], None]:
    def check(body: bytes) -> None:
        req = parse(RecommendBody, body)
        if not req.history:
            raise Refusal(422, "history: empty (give the user's items, oldest first)")
        if len(req.history) > MAX_HISTORY:
            raise Refusal(413, f"history: {len(req.history)} items, over {MAX_HISTORY}")
        if any(isinstance(h, str) and len(h) > limits.max_chars for h in req.history):
            raise Refusal(413, f"history: an entry over {limits.max_chars} characters (limits.max_chars)")
        if not 1 <= req.k <= MAX_K:
            raise Refusal(422, f"k: {req.k} is outside 1-{MAX_K}")
    return check


def add_recommend_route(app, run_dir: str):
    """Register ``POST /recommend`` on a FastAPI app (LitServe's); the body is already validated."""
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    from tunelab.recommend.recommender import Recommender, UnknownItem

    recommender = Recommender(run_dir)  # a wrong run dir is one line at server start

    async def recommend_route(request: Request):
        body = RecommendBody.model_validate(await request.json())
        try:
            items = await run_in_threadpool(recommender, list(body.history), body.k, body.exclude_seen)
        except UnknownItem as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse({"items": items})

    app.add_api_route("/recommend", recommend_route, methods=["POST"])
    return recommender
