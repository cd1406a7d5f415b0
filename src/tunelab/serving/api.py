"""The LitServe APIs: ``/predict`` (dynamically batched) and ``/generate`` (streamed).

A worker process loads the model in a background thread started by ``setup``, so LitServe opens
the port at once and ``GET /health`` answers 503 until every worker has loaded, then 200
(``health`` reads a counter the workers share with the HTTP process). A request that reaches a
worker still loading waits for it up to the request timeout, then gets 503. A model that fails
to load ends its worker; LitServe then shuts the server down and ``serve.py`` prints why.

Requests arrive already checked (``limits.RequestGuard``), so nothing here refuses a request: one
bad request in a dynamically batched call would fail the whole batch.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import threading
import time

import litserve as ls
from fastapi import HTTPException

from tunelab.serving.requests import predict_items

log = logging.getLogger(__name__)


class _Loading:
    """Load in a thread of the worker; share 'how many workers are ready' and the first error."""

    def _init_loading(self, workers: int, threads: int, load_delay_s: float) -> None:
        ctx = mp.get_context("spawn")  # LitServe spawns its workers: these travel with the API object
        self._loaded = ctx.Value("i", 0)
        self._error = ctx.Array("c", 2048)
        self.workers, self.threads, self.load_delay_s = int(workers), int(threads), float(load_delay_s)

    def setup(self, device) -> None:
        self._ready = threading.Event()
        threading.Thread(target=self._load_in_background, args=(device,), daemon=True, name="load-model").start()

    def _load_in_background(self, device) -> None:
        try:
            import torch

            from tunelab.quiet import quiet

            quiet()
            torch.set_num_threads(self.threads)  # one thread per worker is fastest on a busy CPU
            if self.load_delay_s:
                time.sleep(self.load_delay_s)  # keeps /health at 503 for a while (tests, drills)
            self.load(device)
        except Exception as exc:  # the server cannot serve: say why, then end this worker
            log.exception("loading the model failed")
            self._error.value = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:2000]
            os._exit(1)
        with self._loaded.get_lock():
            self._loaded.value += 1
        self._ready.set()

    def load_error(self) -> str | None:
        return self._error.value.decode("utf-8", "replace") or None

    def health(self) -> bool:
        return self._loaded.value >= self.workers and not self._error.value

    def _wait_ready(self) -> bool:
        return self._ready.wait(self.request_timeout if self.request_timeout and self.request_timeout > 0 else None)


class PredictAPI(_Loading, ls.LitAPI):
    def __init__(self, spec, backend: str = "pytorch", batch_texts: int = 32, max_batch_size: int = 16,
                 batch_timeout: float = 0.01, workers: int = 1, threads: int = 1, load_delay_s: float = 0.0,
                 adapters: dict | None = None) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, api_path="/predict")
        self.served, self.backend_name, self.batch_texts = spec, backend, int(batch_texts)
        self.adapters = dict(adapters or {})  # name -> peft adapter folder (adapters.describe)
        self._init_loading(workers, threads, load_delay_s)

    def load(self, device) -> None:
        from tunelab.serving import adapters, backend
        from tunelab.serving.predictor import Predictor

        self.predictor = Predictor.from_spec(self.served, backend.load(self.backend_name, self.served, device),
                                             batch_size=self.batch_texts)
        self.backends = {None: self.predictor.backend}
        if self.adapters:
            shared = backend.TorchBackend(adapters.load(self.served, self.adapters), device)
            self.backends.update({name: adapters.AdapterBackend(shared, name) for name in self.adapters})

    def decode_request(self, request):
        return {"adapter": request.get("adapter"), "items": predict_items(request)}

    def batch(self, inputs):
        return inputs  # a list of requests, each a list of items

    def predict(self, x):
        if not self._wait_ready():
            raise HTTPException(503, "the model is still loading; try again when GET /health answers 200")
        requests = [x] if self.max_batch_size == 1 else x  # unbatched: one request
        out: list[dict | None] = [None] * len(requests)
        for adapter in dict.fromkeys(r["adapter"] for r in requests):  # one pass per adapter in the batch
            idx = [i for i, r in enumerate(requests) if r["adapter"] == adapter]
            flat = [item for i in idx for item in requests[i]["items"]]
            answers = self.predictor.predict(flat, self.backends[adapter])  # length-sorted over all texts
            at = 0
            for i in idx:
                n = len(requests[i]["items"])
                out[i] = {"predictions": answers[at:at + n], **({"adapter": adapter} if adapter else {})}
                at += n
        return out[0] if self.max_batch_size == 1 else out

    def unbatch(self, output):
        return output

    def encode_response(self, output):
        return output


def sse(event: dict) -> str:
    """One server-sent event: pieces as ``data:``, the summary as ``event: done``, failures as ``event: error``."""
    data = json.dumps(event, ensure_ascii=False)
    if event.get("done"):
        return f"event: done\ndata: {data}\n\n"
    if "error" in event:
        return f"event: error\ndata: {data}\n\n"
    return f"data: {data}\n\n"


class GenerateAPI(_Loading, ls.LitAPI):
    def __init__(self, spec, defaults: dict, workers: int = 1, threads: int = 1, load_delay_s: float = 0.0) -> None:
        super().__init__(max_batch_size=1, api_path="/generate", stream=True)
        self.served, self.defaults = spec, dict(defaults)
        self._init_loading(workers, threads, load_delay_s)

    def load(self, device) -> None:
        from tunelab.serving.generator import Generator
        from tunelab.serving.loading import load_causal_lm

        tokenizer, model = load_causal_lm(self.served)
        self.generator = Generator(model.to(device), tokenizer, self.served.max_length)

    def decode_request(self, request):
        return {**self.defaults, **{k: v for k, v in request.items() if v is not None}}

    def predict(self, request):
        if not self._wait_ready():
            yield {"error": "the model is still loading; try again when GET /health answers 200"}
            return
        try:
            yield from self.generator.stream(request, max_time=self.request_timeout)
        except Exception as exc:  # a stream has already answered 200: the error is an event
            log.exception("generation failed")
            yield {"error": f"{type(exc).__name__}: {exc}"}

    def encode_response(self, output):
        for event in output:
            yield sse(event)
