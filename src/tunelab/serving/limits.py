"""The server's limits, and the ASGI guard that enforces them before any worker sees a request.

LitServe hands a request body to its worker as it comes: malformed JSON becomes a 500, a body of
any size is accepted unless ``max_payload_size`` is set, and in a dynamically batched worker one
bad request fails the whole batch. So every POST route is checked here, in the HTTP process:

* a body over ``max_body_bytes`` -> 413 (from Content-Length, or while reading: never buffered whole);
* a body that is not JSON (or not UTF-8) -> 400;
* the route's validator (``requests``): wrong fields or types -> 422, too many texts or
  characters -> 413;

each as ``{"detail": "<one line>"}`` (FastAPI's shape, also LitServe's 504 and 500). A valid body
is replayed to the route unchanged. Streamed routes get ``Content-Type: text/event-stream``, which
LitServe's streaming response does not set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping


@dataclass(frozen=True)
class Limits:
    max_texts: int = 64  # texts (pairs, options) per request
    max_chars: int = 20_000  # characters per text (prompt); longer model inputs are truncated and flagged
    max_body_bytes: int = 1_000_000
    max_new_tokens: int = 256  # cap on /generate's max_new_tokens
    timeout_s: float = 30.0  # queue wait (LitServe: 504) and one generation's max_time

    def check(self) -> "Limits":
        from tunelab.errors import ConfigError

        for key in ("max_texts", "max_chars", "max_body_bytes", "max_new_tokens"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"limits.{key}: must be an integer >= 1, got {v!r}")
        if not isinstance(self.timeout_s, (int, float)) or self.timeout_s <= 0:
            raise ConfigError(f"limits.timeout_s: must be a number > 0, got {self.timeout_s!r}")
        return self


class Refusal(Exception):
    """A request refused with an HTTP status and a one-line reason."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


async def _respond(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """ASGI middleware: ``validators`` maps a POST path to ``fn(body: bytes)`` raising ``Refusal``."""

    def __init__(self, app, validators: Mapping[str, Callable[[bytes], None]], max_body_bytes: int,
                 sse_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.validators = dict(validators)
        self.max_body_bytes = int(max_body_bytes)
        self.sse_paths = set(sse_paths)

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or scope.get("method") != "POST" or path not in self.validators:
            await self.app(scope, receive, send)
            return
        too_large = Refusal(413, f"request body over {self.max_body_bytes} bytes (limits.max_body_bytes)")
        try:
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                raise too_large
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise too_large
                chunks.append(chunk)
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)
            self.validators[path](body)
        except Refusal as refusal:
            await _respond(send, refusal.status, {"detail": refusal.detail})
            return

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        # The body is JSON whatever the client called it (curl -d says form-urlencoded).
        headers = [(k, v) for k, v in scope.get("headers") or [] if k.lower() != b"content-type"]
        scope = {**scope, "headers": headers + [(b"content-type", b"application/json")]}
        if path not in self.sse_paths:
            await self.app(scope, replay, send)
            return

        async def send_sse(message):
            if message["type"] == "http.response.start" and message.get("status") == 200:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-type"]
                headers += [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, replay, send_sse)
