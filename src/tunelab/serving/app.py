"""Assemble and run the server: ``serve(cfg)`` behind ``python serve.py model=... port=8000``.

Routes (LitServe's own where it has them):

* ``POST /predict`` (supervised tasks) or ``POST /generate`` (causal LMs): the LitAPI of ``api``;
* ``GET /health``: LitServe's, 503 until every worker has loaded the model (``api``), then 200;
* ``GET /info``: LitServe's, with ``ServeSpec.info`` as its ``model`` (task, labels, base model,
  method, test metrics, commit, data fingerprint) and the limits, backend and feedback file;
* ``POST /feedback``: a FastAPI route on LitServe's app (LitServe has no custom routes): runs in
  the HTTP process, which has no model, and appends to ``feedback`` (``feedback.FeedbackWriter``).
* ``POST /retrieve`` (with ``index=<index.pt>``): the assistant's retriever, a FastAPI route in the
  HTTP process too (``retrieve``).
* ``POST /recommend`` (with ``recommender=<rec run dir>``): next items for a history from a SASRec
  or text recommendation run, a FastAPI route in the HTTP process too (``recommend``).

Without ``model=``, ``recommender=`` and/or ``index=`` are served alone by uvicorn (``standalone``).

Every POST body passes ``limits.RequestGuard`` first (400/413/422 before any worker sees it).
"""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path
from typing import Any, Mapping

from fastapi import Request

from tunelab.errors import ConfigError
from tunelab.serving import adapters as serving_adapters
from tunelab.serving import backend as backends
from tunelab.serving import loading
from tunelab.serving.limits import Limits, RequestGuard
from tunelab.serving.requests import feedback_validator, generate_validator, predict_validator

log = logging.getLogger(__name__)
HOSTS = ("127.0.0.1", "0.0.0.0", "::")


def has_chat_template(spec: loading.ServeSpec) -> bool:
    folder = Path(spec.path)
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    cfg = folder / "tokenizer_config.json"
    return cfg.is_file() and bool(json.loads(cfg.read_text()).get("chat_template"))


def _limits(cfg: Mapping[str, Any]) -> Limits:
    known = set(Limits.__dataclass_fields__)
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ConfigError(f"limits.{unknown[0]}: unknown limit; known: {', '.join(sorted(known))}")
    return Limits(**cfg).check()


def build_server(cfg: Mapping[str, Any], spec: loading.ServeSpec):
    """The LitServer (not started) and its LitAPI."""
    import litserve as ls
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    from tunelab.serving.api import GenerateAPI, PredictAPI
    from tunelab.serving.feedback import FeedbackWriter, to_record

    limits = _limits(dict(cfg.get("limits") or {}))
    # the backend checks the folder here, so a wrong one is one line before any worker starts
    backends.check(cfg.get("backend", "pytorch"), spec)
    workers, threads = int(cfg.get("workers", 1)), int(cfg.get("threads", 1))
    delay = float(cfg.get("load_delay_s") or 0)
    if spec.io == "generate":  # a causal LM: /generate, streamed
        if cfg.get("adapters"):
            raise ConfigError("adapters: several adapters are served for /predict models; this is a causal LM")
        api = GenerateAPI(spec, dict(cfg.get("generation") or {}), workers, threads, delay)
        validators = {"/generate": generate_validator(limits, has_chat_template(spec))}
        stream = ["/generate"]
    else:
        if cfg.get("adapters") and cfg.get("backend", "pytorch") != "pytorch":
            raise ConfigError(f"adapters: per-request LoRA adapters run on backend=pytorch, not {cfg.get('backend')}; "
                              "export each adapter's merged model to serve it with that backend")
        adapters = serving_adapters.describe(spec, cfg.get("adapters"))
        api = PredictAPI(spec, cfg.get("backend", "pytorch"), int(cfg.get("batch_texts", 32)),
                         int(cfg.get("max_batch_size", 16)), float(cfg.get("batch_timeout", 0.01)),
                         workers, threads, delay, adapters)
        validators = {"/predict": predict_validator(spec.task, limits, list(adapters))}
        stream = []
    validators["/feedback"] = feedback_validator(spec.task, spec.labels, limits)
    if cfg.get("index"):  # the assistant's retriever (serving/retrieve.py)
        from tunelab.serving.retrieve import retrieve_validator

        validators["/retrieve"] = retrieve_validator(limits)
    if cfg.get("recommender"):  # a recommendation run (serving/recommend.py)
        from tunelab.serving.recommend import recommend_validator

        validators["/recommend"] = recommend_validator(limits)
    feedback_path = Path(str(cfg["feedback"])).expanduser().absolute()
    metadata = {**spec.info, "adapters": getattr(api, "adapters", {}), "backend": cfg.get("backend", "pytorch"), "limits": limits.__dict__,
                "feedback": str(feedback_path), "max_batch_size": api.max_batch_size}
    server = ls.LitServer(
        api,
        accelerator=cfg.get("accelerator", "cpu"),
        devices=cfg.get("devices", "auto") if cfg.get("accelerator", "cpu") != "cpu" else "auto",
        workers_per_device=workers,
        timeout=limits.timeout_s,
        model_metadata=json.loads(json.dumps(metadata, default=str)),
        middlewares=[(RequestGuard, {"validators": validators, "max_body_bytes": limits.max_body_bytes,
                                     "sse_paths": stream})],
    )
    writer = FeedbackWriter(feedback_path, model=spec.info.get("source"))

    async def feedback(request: Request):
        body = await request.json()  # checked by the guard: to_record cannot fail here
        await run_in_threadpool(writer.append, to_record(spec.task, spec.labels, body), body)
        return JSONResponse({"written": True, "path": str(feedback_path)})

    server.app.add_api_route("/feedback", feedback, methods=["POST"])
    if cfg.get("index"):
        from tunelab.serving.retrieve import add_retrieve_route

        add_retrieve_route(server.app, str(cfg["index"]))
    if cfg.get("recommender"):
        from tunelab.serving.recommend import add_recommend_route

        add_recommend_route(server.app, str(cfg["recommender"]))
    return server, api


def serve(cfg: Mapping[str, Any]) -> None:
    from tunelab.quiet import quiet

    quiet()
    host = str(cfg.get("host", "127.0.0.1"))
    if host not in HOSTS:
        raise ConfigError(f"host: LitServe binds {', '.join(HOSTS)}; got {host!r}")
    port = cfg.get("port", 8000)
    if not isinstance(port, int) or not 1024 <= port <= 65535:
        raise ConfigError(f"port: must be an integer 1024-65535, got {port!r}")
    if cfg.get("model_path") in (None, "", "???"):  # no model=: a recommender or index alone
        if not (cfg.get("recommender") or cfg.get("index")):
            raise ConfigError("model: missing; give model=<exported folder | run dir | zoo name> "
                              "(or recommender=<rec run dir> / index=<index.pt> to serve only those)")
        from tunelab.serving.standalone import serve_routes

        serve_routes(cfg, _limits(dict(cfg.get("limits") or {})), host, port)
        return
    spec = loading.describe(str(cfg["model_path"]))
    server, api = build_server(cfg, spec)
    route = "/generate" if spec.io == "generate" else "/predict"
    print(f"serving {spec.task} ({len(spec.labels)} labels) from {spec.info['source']} on http://{host}:{port}{route}; "
          f"feedback -> {server.model_metadata['feedback']}", flush=True)

    main = os.getpid()

    def stop(signum, frame):  # SIGTERM: shut the workers down too (LitServe handles Ctrl+C only)
        if os.getpid() != main:  # a forked HTTP process before uvicorn took its signals: die as usual
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.run(host=host, port=port, generate_client_file=False, log_level=str(cfg.get("log_level", "warning")),
                   num_api_servers=cfg.get("api_servers"))
    except (EOFError, ConnectionError):
        # LitServe's monitor shut the server down under run() (a worker died): its manager is gone.
        if not api.load_error():
            raise
    error = api.load_error()
    if error:
        raise ConfigError(f"model: {cfg['model_path']!r} could not be loaded in the worker: {error}")
