"""The peer a user would write instead of serve.py: a plain FastAPI route calling a transformers
``pipeline`` per request (no batching across requests, no worker processes).

    PEER_MODEL=<exported model folder> PEER_THREADS=1 uvicorn experiments.serving.peer_pipeline_app:app --port 8001

``POST /predict`` takes the same body as serve.py's (``{"texts": [...]}``) and answers with the
pipeline's output per text: entities (``aggregation_strategy="simple"``) for a token-classification
model, all class scores for a sequence classifier. ``GET /health`` answers 200 once loaded (at import).
The route is a plain ``def``: FastAPI runs it in its thread pool, as such a route usually is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import pipeline

MODEL = os.environ.get("PEER_MODEL", "")
if not MODEL or not (Path(MODEL) / "config.json").is_file():
    raise SystemExit(f"PEER_MODEL: {MODEL!r} is not a Hugging Face model folder (config.json)")
torch.set_num_threads(int(os.environ.get("PEER_THREADS", "1")))  # the same threads as the server it is compared with

_arch = (json.loads((Path(MODEL) / "config.json").read_text()).get("architectures") or [""])[0]
if _arch.endswith("ForTokenClassification"):
    pipe = pipeline("token-classification", model=MODEL, aggregation_strategy="simple", device="cpu")
    call_kwargs: dict = {}
elif _arch.endswith("ForSequenceClassification"):
    pipe = pipeline("text-classification", model=MODEL, top_k=None, device="cpu")
    call_kwargs = {"truncation": True}
else:
    raise SystemExit(f"PEER_MODEL: {_arch or 'no architecture'}: the peer serves token or sequence classifiers")

app = FastAPI()


class Body(BaseModel):
    texts: list[str]


def _plain(x):
    """numpy scalars (pipeline scores) -> JSON numbers."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return x.item() if hasattr(x, "item") else x


@app.post("/predict")
def predict(body: Body):
    return {"predictions": _plain([pipe(text, **call_kwargs) for text in body.texts])}


@app.get("/health")
def health():
    return {"ok": True}
