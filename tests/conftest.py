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



def in_ci() -> bool:
    """True under CI (``CI=true``, as CI services and .ci/run set it)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def shared_present(path: Path | None = None) -> bool:
    """The real datasets are there: the folder exists and is not empty (an empty mount is absent)."""
    path = SHARED if path is None else path
    return path.is_dir() and any(path.iterdir())


def require_shared(sub: str = "") -> Path:
    """``SHARED / sub``, or skip the calling test; under CI fail it instead.

    A skip is the right answer on a laptop without the datasets, but in CI it hides that dozens
    of real-data tests never ran while the run still shows green.
    """
    path = SHARED / sub if sub else SHARED
    if not (shared_present() and path.exists()):
        reason = f"real datasets not found at {path}"
        if in_ci():
            pytest.fail(f"{reason} (CI=true: a test that needs the shared datasets must run, not skip)", pytrace=False)
        pytest.skip(reason)
    return path


# A marker, not a skipif: whether to skip or fail is decided at setup time (pytest_runtest_setup).
needs_shared = pytest.mark.needs_shared


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "needs_shared: needs the real datasets (skips locally, fails under CI=true)")


def pytest_runtest_setup(item) -> None:
    if item.get_closest_marker("needs_shared") is not None:
        require_shared()


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


# Shared by the integration tests (built once per module): synthetic NER data with a learnable
# signal (160 training sentences: 10 batches of 16) and a tiny "pretrained" BERT folder.
@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from tests.helpers import write_synthetic_ner

    folder = tmp_path_factory.mktemp("synthetic_ner")
    write_synthetic_ner(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from tests.helpers import save_tiny_pretrained

    return save_tiny_pretrained(tmp_path_factory.mktemp("tiny_bert"))
