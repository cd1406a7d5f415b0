"""Trainer settings that cannot run on this machine: one line naming the key, before Lightning.

Lightning reports these from inside ``Trainer(...)``, which Hydra's ``instantiate`` wraps in a
multi-line error. Checked here:

* FSDP and DeepSpeed on CPU. Lightning's ``FSDPStrategy`` refuses ``accelerator=cpu`` outright
  ("requires a GPU accelerator"), and the torch FSDP it wraps (FSDP1) raises "FSDP needs a
  non-CPU accelerator device" on its own (both checked: Lightning 2.6.6, torch 2.13, gloo, 2 CPU
  processes). torch's FSDP2 (``fully_shard``) does run on CPU with gloo, but Lightning reaches it
  only through ``ModelParallelStrategy`` and a ``configure_model`` that tunelab's modules do not
  have. DeepSpeed's ZeRO runs on CUDA devices only. On CPU, data parallelism is
  ``trainer=ddp trainer.accelerator=cpu`` (gloo), which works and matches one process.
* A GPU accelerator (``trainer=gpu|fsdp|deepspeed``) on a machine where torch sees no CUDA device.
"""

from __future__ import annotations

from typing import Any

from tunelab.errors import ConfigError

GPU_ONLY = {"fsdp": "FSDP", "deepspeed": "DeepSpeed"}  # strategy name prefix -> what to call it
GPU = ("gpu", "cuda")


def _strategy_name(strategy: Any) -> str:
    if isinstance(strategy, str):
        return strategy.lower()
    if hasattr(strategy, "get"):  # a {_target_: ...} node
        return str(strategy.get("_target_") or "").rsplit(".", 1)[-1].lower()
    return type(strategy).__name__.lower()


def _gpu_only(strategy: Any) -> str | None:
    name = _strategy_name(strategy)
    return next((label for prefix, label in GPU_ONLY.items() if name.startswith(prefix)), None)


def check_trainer(cfg: Any) -> None:
    """Raise a one-line ConfigError when ``cfg.trainer`` asks for what this machine cannot run."""
    trainer = cfg.get("trainer") or {}
    accelerator = str(trainer.get("accelerator") or "auto").lower()
    label = _gpu_only(trainer.get("strategy"))
    if label and accelerator == "cpu":
        raise ConfigError(
            f"trainer.accelerator: {label} (trainer.strategy={_strategy_name(trainer.get('strategy'))}) needs CUDA GPUs: "
            "Lightning's strategy and torch's sharding refuse accelerator=cpu; for several CPU processes use "
            "trainer=ddp trainer.accelerator=cpu"
        )
    if accelerator in GPU or (label and accelerator == "auto"):
        import torch

        if not torch.cuda.is_available():
            what = f"{label} needs" if label else f"trainer.accelerator={accelerator} needs"
            raise ConfigError(
                f"trainer.accelerator: {what} a CUDA GPU and torch sees none here "
                "(torch.cuda.is_available() is False); use trainer=cpu, or trainer=ddp trainer.accelerator=cpu"
            )
