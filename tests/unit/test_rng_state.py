"""RNG states in the checkpoint: CUDA's generator and every DDP rank's states travel too.

No GPU and no process group here: torch.cuda's get/set and torch.distributed's gather are
replaced by fakes that record what the callback asks of them.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch
from lightning.fabric.utilities.seed import _collect_rng_states

from tunelab.callbacks import rng_state
from tunelab.callbacks.rng_state import KEY, RNGStateCallback


class FakeCuda:
    """One fake CUDA generator per device index: a byte tensor, as torch.cuda returns."""

    def __init__(self):
        self.states = {0: torch.arange(16, dtype=torch.uint8)}

    def get_rng_state(self, device="cuda"):
        return self.states[torch.device(device).index or 0].clone()

    def set_rng_state(self, state, device="cuda"):
        self.states[torch.device(device).index or 0] = state.clone()


@pytest.fixture
def fake_cuda(monkeypatch):
    cuda = FakeCuda()
    monkeypatch.setattr(torch.cuda, "get_rng_state", cuda.get_rng_state)
    monkeypatch.setattr(torch.cuda, "set_rng_state", cuda.set_rng_state)
    return cuda


def _trainer(rank=0, world=1):
    return SimpleNamespace(global_rank=rank, world_size=world)


def _module(device):
    return SimpleNamespace(device=torch.device(device))


def test_cuda_generator_state_round_trips_through_the_checkpoint(fake_cuda):
    cb, trainer, module = RNGStateCallback(), _trainer(), _module("cuda:0")
    checkpoint: dict = {}
    cb.on_save_checkpoint(trainer, module, checkpoint)
    saved_cuda = fake_cuda.states[0].clone()
    fake_cuda.states[0] = torch.zeros(16, dtype=torch.uint8)  # the GPU generator draws on after the save

    resumed = RNGStateCallback()
    resumed.on_load_checkpoint(trainer, module, checkpoint)
    resumed.on_train_start(trainer, module)
    assert torch.equal(fake_cuda.states[0], saved_cuda), "the CUDA generator was not restored"


def test_cpu_states_round_trip_and_cpu_runs_touch_no_cuda(monkeypatch):
    def no_cuda(*a, **k):
        raise AssertionError("a CPU run must not touch torch.cuda")

    monkeypatch.setattr(torch.cuda, "get_rng_state", no_cuda)
    monkeypatch.setattr(torch.cuda, "set_rng_state", no_cuda)
    cb, trainer, module = RNGStateCallback(), _trainer(), _module("cpu")
    torch.manual_seed(1)
    random.seed(1)
    checkpoint: dict = {}
    cb.on_save_checkpoint(trainer, module, checkpoint)
    expected = (torch.rand(4), random.random())
    torch.manual_seed(99)
    random.seed(99)
    cb.on_load_checkpoint(trainer, module, checkpoint)
    cb.on_train_start(trainer, module)
    assert torch.equal(torch.rand(4), expected[0]) and random.random() == expected[1]


def test_each_ddp_rank_gets_its_own_states_back(monkeypatch, fake_cuda):
    # Two ranks whose CPU generators have drifted apart (dynamic padding: different draws).
    def states_of(seed):
        torch.manual_seed(seed)
        return _collect_rng_states(include_cuda=False)

    per_rank = [states_of(10), states_of(11)]
    monkeypatch.setattr(rng_state, "_distributed", lambda trainer: True, raising=False)
    monkeypatch.setattr(torch.distributed, "all_gather_object", lambda out, obj: out.__setitem__(slice(None), per_rank))
    checkpoint: dict = {}
    RNGStateCallback().on_save_checkpoint(_trainer(1, 2), _module("cpu"), checkpoint)

    for rank, seed in ((0, 10), (1, 11)):
        torch.manual_seed(seed)
        expected = torch.rand(4)
        torch.manual_seed(1234)
        cb = RNGStateCallback()
        cb.on_load_checkpoint(_trainer(rank, 2), _module("cpu"), checkpoint)
        cb.on_train_start(_trainer(rank, 2), _module("cpu"))
        assert torch.equal(torch.rand(4), expected), f"rank {rank} resumed with another rank's RNG"


def test_checkpoint_from_the_old_flat_format_still_resumes():
    torch.manual_seed(5)
    flat = _collect_rng_states(include_cuda=False)
    expected = torch.rand(2)
    cb = RNGStateCallback()
    cb.on_load_checkpoint(_trainer(), _module("cpu"), {KEY: flat})
    cb.on_train_start(_trainer(), _module("cpu"))
    assert torch.equal(torch.rand(2), expected)
