"""Request bodies per route and task: shape and types (422), sizes (413), malformed JSON (400).

What a ``/predict`` body must hold follows the serving IO kind the task declares (``serve_io``):
``texts`` for ``tokens`` and ``classify`` (which also takes ``pairs``), ``pairs`` for ``pair``,
``question`` + ``options`` for ``choice``.

Validators take the raw body and raise ``limits.Refusal``; they run in the HTTP process (the
``RequestGuard``), so a worker only ever sees requests it can answer. They also normalise nothing:
the worker reads the same JSON and turns it into items with ``predict_items``.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, ValidationError

from tunelab.serving.limits import Limits, Refusal

_STRICT = ConfigDict(extra="forbid", strict=True)


class PredictBody(BaseModel):
    model_config = _STRICT
    texts: list[str] | None = None
    pairs: list[tuple[str, str]] | None = None
    question: str | None = None
    options: list[str] | None = None
    adapter: str | None = None


class Message(BaseModel):
    model_config = _STRICT
    role: Literal["system", "user", "assistant"]
    content: str


class GenerateBody(BaseModel):
    model_config = _STRICT
    prompt: str | None = None
    messages: list[Message] | None = None
    max_new_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    adapter: str | None = None


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    text: str | None = None
    text_pair: str | None = None
    question: str | None = None
    options: list[str] | None = None
    prediction: Any = None
    correct: Any
    adapter: str | None = None


def parse(model: type[BaseModel], body: bytes) -> BaseModel:
    """``model`` from a JSON body: 400 if it is not JSON, 422 naming the first bad field."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise Refusal(400, f"malformed JSON: {first['msg'].removeprefix('Invalid JSON: ')}") from None
        where = ".".join(str(x) for x in first["loc"]) or "body"
        raise Refusal(422, f"{where}: {first['msg']}") from None


def _texts_fit(texts: Sequence[str], what: str, limits: Limits) -> None:
    if len(texts) > limits.max_texts:
        raise Refusal(413, f"{what}: {len(texts)} items, over {limits.max_texts} per request (limits.max_texts)")


def _chars_fit(text: str, where: str, limits: Limits) -> None:
    if len(text) > limits.max_chars:
        raise Refusal(413, f"{where}: {len(text)} characters, over {limits.max_chars} (limits.max_chars)")


def _adapter_known(name: str | None, adapters: Sequence[str]) -> None:
    if name is not None and name not in adapters:
        known = ", ".join(adapters) if adapters else "none: this server serves one model"
        raise Refusal(422, f"adapter: unknown adapter {name!r} (known: {known})")


def predict_validator(task: str, limits: Limits, adapters: Sequence[str] = ()) -> Callable[[bytes], None]:
    from tunelab.serving import task_io

    io = task_io.kind(task)  # the task's serving IO kind, looked up once per server

    def check(body: bytes) -> None:
        req = parse(PredictBody, body)
        given = {k for k in ("texts", "pairs", "question", "options") if getattr(req, k) is not None}
        if io == "choice":
            want, example = {"question", "options"}, '{"question": "...", "options": ["...", "..."]}'
        elif io == "pair":
            want, example = {"pairs"}, '{"pairs": [["first", "second"]]}'
        elif io == "classify" and given == {"pairs"}:
            want, example = {"pairs"}, ""
        else:
            want, example = {"texts"}, '{"texts": ["..."]}'
        if given != want:
            raise Refusal(422, f"body: this {task} model takes {example}; got fields {sorted(given) or 'none'}")
        _adapter_known(req.adapter, adapters)
        if req.texts is not None:
            _texts_fit(req.texts, "texts", limits)
            for i, t in enumerate(req.texts):
                _chars_fit(t, f"texts[{i}]", limits)
        if req.pairs is not None:
            _texts_fit(req.pairs, "pairs", limits)
            for i, (a, b) in enumerate(req.pairs):
                _chars_fit(a, f"pairs[{i}][0]", limits)
                _chars_fit(b, f"pairs[{i}][1]", limits)
        if req.options is not None:
            if not req.options:
                raise Refusal(422, "options: at least one option")
            _texts_fit(req.options, "options", limits)
            _chars_fit(req.question, "question", limits)
            for i, o in enumerate(req.options):
                _chars_fit(o, f"options[{i}]", limits)

    return check


def predict_items(body: dict) -> list[dict]:
    """A validated /predict body as predictor items."""
    if body.get("texts") is not None:
        return [{"text": t} for t in body["texts"]]
    if body.get("pairs") is not None:
        return [{"text": a, "text_pair": b} for a, b in body["pairs"]]
    return [{"question": body["question"], "options": list(body["options"])}]


def generate_validator(limits: Limits, chat: bool, adapters: Sequence[str] = ()) -> Callable[[bytes], None]:
    def check(body: bytes) -> None:
        req = parse(GenerateBody, body)
        if (req.prompt is None) == (req.messages is None):
            raise Refusal(422, 'body: send exactly one of "prompt" (a string) or "messages" (a chat)')
        if req.messages is not None:
            if not chat:
                raise Refusal(422, 'messages: this model\'s tokenizer has no chat template; send "prompt"')
            if not req.messages:
                raise Refusal(422, "messages: at least one message")
            _texts_fit(req.messages, "messages", limits)
            _chars_fit("".join(m.content for m in req.messages), "messages", limits)
        else:
            _chars_fit(req.prompt, "prompt", limits)
        n = req.max_new_tokens
        if n is not None and not 1 <= n <= limits.max_new_tokens:
            raise Refusal(422, f"max_new_tokens: {n} is outside 1-{limits.max_new_tokens} (limits.max_new_tokens)")
        if req.temperature is not None and not 0 <= req.temperature <= 100:
            raise Refusal(422, f"temperature: {req.temperature} is outside 0-100 (0 = greedy)")
        if req.top_p is not None and not 0 < req.top_p <= 1:
            raise Refusal(422, f"top_p: {req.top_p} is outside (0, 1]")
        _adapter_known(req.adapter, adapters)

    return check


def feedback_validator(task: str, labels: Sequence[str], limits: Limits) -> Callable[[bytes], None]:
    from tunelab.serving.feedback import to_record

    def check(body: bytes) -> None:
        req = parse(FeedbackBody, body)
        for key in ("text", "text_pair", "question"):
            if getattr(req, key) is not None:
                _chars_fit(getattr(req, key), key, limits)
        if req.options is not None:
            _texts_fit(req.options, "options", limits)
        try:
            to_record(task, labels, json.loads(body))
        except ValueError as exc:
            raise Refusal(422, str(exc)) from None

    return check
