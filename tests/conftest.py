"""Shared fixtures: compose the real Hydra config and shrink it for a 2-core CPU.

Tests run with one torch thread: with another process busy, more threads oversubscribe the
cores (measured 25x slower). They use the tiny random BERT and the CSV logger.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No test may reach the hub: fail at once instead of waiting on network timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED = Path(os.environ.get("TUNELAB_DATA_DIR") or ROOT.parent / "shared" / "datasets")
os.environ.setdefault("TUNELAB_DATA_DIR", str(SHARED))
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real datasets not found at {SHARED}")


def compose(overrides: list[str], config_name: str = "train"):
    """The config exactly as `python train.py <overrides>` would compose it (minus hydra.runtime)."""
    import tunelab.config  # noqa: F401
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return hydra_compose(config_name=config_name, overrides=overrides)


def tiny_overrides(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "model=tiny",
        "logger=csv",
        f"paths.output_dir={tmp_path}",
        f"paths.data_dir={SHARED}",
        "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false",
        "callbacks.progress_bar=null",
        *extra,
    ]


@pytest.fixture
def tiny_cfg(tmp_path):
    def make(*overrides: str, config_name: str = "train"):
        return compose(tiny_overrides(tmp_path, *overrides), config_name=config_name)

    return make
