"""Trainer settings this machine cannot run are one ConfigError naming the key (tunelab.trainer_checks)."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import compose
from tunelab.errors import ConfigError
from tunelab.trainer_checks import check_trainer


def _cfg(*overrides: str):
    return compose(["model=tiny", "logger=csv", *overrides])


@pytest.mark.parametrize("trainer,label", [("fsdp", "FSDP"), ("deepspeed", "DeepSpeed")])
def test_sharded_strategies_on_cpu_say_why_in_one_line(trainer, label):
    with pytest.raises(ConfigError) as err:
        check_trainer(_cfg(f"trainer={trainer}", "trainer.accelerator=cpu", "trainer.devices=2"))
    message = str(err.value)
    assert message.startswith(f"trainer.accelerator: {label} ") and "needs CUDA GPUs" in message
    assert "trainer=ddp trainer.accelerator=cpu" in message and "\n" not in message


@pytest.mark.parametrize("trainer", ["gpu", "fsdp"])
def test_gpu_trainers_without_cuda(monkeypatch, trainer):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^trainer\.accelerator: .*needs a CUDA GPU and torch sees none"):
        check_trainer(_cfg(f"trainer={trainer}"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_trainer(_cfg(f"trainer={trainer}"))  # on a GPU machine both are fine


@pytest.mark.parametrize("overrides", [
    ["trainer=default"], ["trainer=cpu"], ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"],
])
def test_cpu_trainers_pass(monkeypatch, overrides):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    check_trainer(_cfg(*overrides))
