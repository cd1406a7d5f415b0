"""``serve.py recommender=<run>`` and/or ``index=<index.pt>`` with no ``model=``: only those routes.

A recommender or a retriever needs no classifier or causal LM beside it, so loading one just to
start LitServe would waste memory and time. Both already run as FastAPI routes in the HTTP
process (``recommend``, ``retrieve``), so without a model they are served by uvicorn alone:
``POST /recommend`` / ``POST /retrieve`` behind the same ``RequestGuard`` limits, ``GET /health``
(200 once the models are loaded: they load before the port opens) and ``GET /info``.
"""

from __future__ import annotations

from typing import Any, Mapping

from tunelab.serving.limits import Limits, RequestGuard


def build_app(cfg: Mapping[str, Any], limits: Limits):
    """The ASGI app (a FastAPI app wrapped in the request guard), models loaded."""
    from fastapi import FastAPI

    app = FastAPI()
    validators, info = {}, {"limits": limits.__dict__}
    if cfg.get("recommender"):
        from tunelab.serving.recommend import add_recommend_route, recommend_validator

        validators["/recommend"] = recommend_validator(limits)
        recommender = add_recommend_route(app, str(cfg["recommender"]))
        recommender.load()  # before the port opens: /health 200 means ready
        info["recommender"] = {"run": str(recommender.run), "model": recommender.info["config"]["rec"]["name"],
                               "checkpoint": str(recommender.ckpt), "items": len(recommender.titles) - 1}
    if cfg.get("index"):
        from tunelab.serving.retrieve import add_retrieve_route, retrieve_validator

        validators["/retrieve"] = retrieve_validator(limits)
        add_retrieve_route(app, str(cfg["index"]))
        info["index"] = str(cfg["index"])

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/info")
    def get_info():
        return {"model": info}

    return RequestGuard(app, validators, limits.max_body_bytes)


def serve_routes(cfg: Mapping[str, Any], limits: Limits, host: str, port: int) -> None:
    import uvicorn

    app = build_app(cfg, limits)
    routes = [r for r, key in (("/recommend", "recommender"), ("/retrieve", "index")) if cfg.get(key)]
    print(f"serving {' and '.join(routes)} (no model=) on http://{host}:{port}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=str(cfg.get("log_level", "warning")))
