"""The hub route: the model's own Hugging Face repository, for machines with network.

Only what ``from_pretrained`` needs is downloaded (configs, safetensors weights, tokenizer files);
the ONNX/OpenVINO exports and sub-module folders some repositories carry are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tunelab.errors import ConfigError
from tunelab.zoo.catalog import ZooModel

ALLOW = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"]
IGNORE = ["*/*"]  # onnx/, openvino/, 1_Pooling/ ...: not part of the transformers folder


def offline() -> bool:
    flags = (os.environ.get(k, "") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(v.strip().lower() in {"1", "true", "yes", "on"} for v in flags)


def reachable(hub_id: str, timeout: float = 5.0) -> bool:
    """Does the hub answer for this repository? (Fails fast where DNS does not resolve.)"""
    if offline():
        return False
    import requests
    from huggingface_hub import constants

    try:
        resp = requests.head(f"{constants.ENDPOINT}/api/models/{hub_id}", timeout=timeout, allow_redirects=True)
    except requests.RequestException:
        return False
    return resp.status_code < 500


def download(model: ZooModel, out_dir: Path) -> None:
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(model.hub_id, local_dir=out_dir, allow_patterns=ALLOW, ignore_patterns=IGNORE)
    except Exception as exc:  # gated repository, rate limit, network cut mid-way: one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"model {model.name}: hub download of {model.hub_id} failed: {first}") from exc
    shutil.rmtree(out_dir / ".cache", ignore_errors=True)  # huggingface_hub's bookkeeping
    if model.tokenizer_fixes:
        path = out_dir / "tokenizer_config.json"
        config = json.loads(path.read_text()) if path.is_file() else {}
        config.update(model.tokenizer_fixes)
        path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
