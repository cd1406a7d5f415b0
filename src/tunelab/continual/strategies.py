"""The ``cl`` axis: strategy objects the runner and the LightningModule call, never subclasses
of the module. Each strategy is one class with these hooks (defaults: plain sequential training):

* ``check(setting, method)``: refuse a combination in one line;
* ``prepare(net, stage)``: before training a stage (add/select adapters, choose trainables);
* ``train_items(stage, items)``: what the stage trains on (replay adds its memory);
* ``penalty(net, batch, h)``: an extra loss term (EWC, LwF, O-LoRA), or None;
* ``finish(net, stage, items, batches)``: after a stage (store examples, Fisher, a teacher);
* ``eval_context(net, task_id)``: the model used to score a task (per-task LoRA picks its adapter);
* ``state_dict()`` / ``load_state_dict(state, net)``: what a resumed sequence needs besides the net.

``build_strategy(cfg.cl)`` picks one by ``name``. LoRA-per-task strategies live in lora_strategies.py.
"""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from tunelab.errors import ConfigError

COMPOSABLE = ("full", "lora", "adapter")


class Sequential:
    """``seq``: fine-tune on each task in order, nothing to remember (the lower bound)."""

    name = "seq"
    joint = False

    def __init__(self, **knobs: Any) -> None:
        if knobs:
            raise ConfigError(f"cl.{sorted(knobs)[0]}: unknown key for cl={self.name}")

    def check(self, setting: str, method: str) -> None:
        if method not in COMPOSABLE:
            raise ConfigError(f"cl={self.name} composes with method={', '.join(COMPOSABLE)}, not {method}")

    def stages(self, n_tasks: int) -> list[list[int]]:
        return [[i] for i in range(n_tasks)]

    def prepare(self, net, stage: int) -> None:
        pass

    def train_items(self, stage: int, items: list[dict]) -> list[dict]:
        return items

    def penalty(self, net, batch, h: torch.Tensor) -> torch.Tensor | None:
        return None

    def finish(self, net, stage: int, items: list[dict], batches: Callable[[], Iterable]) -> None:
        pass

    def eval_context(self, net, task_id: int):
        return contextlib.nullcontext()

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: Mapping, net) -> None:
        pass


class MultiTask(Sequential):
    """``mtl``: one stage over every task's training data at once (the upper bound). Its R has one
    trained row, so only ACC is defined."""

    name = "mtl"
    joint = True

    def stages(self, n_tasks: int) -> list[list[int]]:
        return [list(range(n_tasks))]


class Replay(Sequential):
    """``replay``: a seeded reservoir (Vitter's algorithm R) of ``per_task`` training examples of
    each finished task, mixed into every later task's training data."""

    name = "replay"

    def __init__(self, per_task: int = 50, seed: int = 0) -> None:
        self.per_task, self.seed = int(per_task), int(seed)
        self.memory: dict[int, list[dict]] = {}

    def train_items(self, stage, items):
        return items + [it for k in sorted(self.memory) for it in self.memory[k]]

    def finish(self, net, stage, items, batches):
        rng = random.Random(f"{self.seed}:{stage}")
        new = [it for it in items if it["task_id"] == stage]
        reservoir: list[dict] = []
        for i, it in enumerate(new):
            if i < self.per_task:
                reservoir.append(it)
            else:
                j = rng.randint(0, i)
                if j < self.per_task:
                    reservoir[j] = it
        self.memory[stage] = reservoir

    def state_dict(self):
        return {"memory": self.memory}

    def load_state_dict(self, state, net):
        self.memory = {int(k): v for k, v in state.get("memory", {}).items()}


def _trainable(net) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in net.named_parameters() if p.requires_grad}


class EWC(Sequential):
    """``ewc``: online EWC (Schwarz et al. 2018): after each task the diagonal empirical Fisher of
    the trainable weights (per-example squared gradients of the task loss, mean over the examples
    of ``fisher_batches`` training batches) is
    added to ``gamma`` x the running Fisher; later tasks pay ``lambda/2 * sum F (w - w*)^2``."""

    name = "ewc"

    def __init__(self, lam: float = 100.0, gamma: float = 1.0, fisher_batches: int = 16) -> None:
        self.lam, self.gamma, self.fisher_batches = float(lam), float(gamma), int(fisher_batches)
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}

    def penalty(self, net, batch, h):
        if not self.fisher:
            return None
        total = h.new_zeros(())
        for n, p in net.named_parameters():
            if p.requires_grad and n in self.fisher:
                f, a = self.fisher[n].to(p.device), self.anchor[n].to(p.device)
                total = total + (f * (p - a) ** 2).sum()
        return 0.5 * self.lam * total

    def finish(self, net, stage, items, batches):
        params = _trainable(net)
        new = {n: torch.zeros_like(p) for n, p in params.items()}
        was = net.training
        net.eval()  # no dropout: the Fisher of the model as it is
        count = 0
        for b, batch in enumerate(batches()):
            if b >= self.fisher_batches:
                break
            # Per example: the square of a batch's mean gradient is not the mean of the squares
            # (opposite gradients cancel, and it shrinks with the batch size).
            for i in range(batch["input_ids"].shape[0]):
                one = {k: v[i:i + 1] for k, v in batch.items()}
                net.zero_grad(set_to_none=True)
                net.loss(net.features(one), one).backward()
                for n, p in params.items():
                    if p.grad is not None:
                        new[n] += p.grad.detach() ** 2
                count += 1
        net.zero_grad(set_to_none=True)
        net.train(was)
        for n in new:
            new[n] = new[n].cpu() / max(count, 1)
            self.fisher[n] = self.gamma * self.fisher[n] + new[n] if n in self.fisher else new[n]
            self.anchor[n] = params[n].detach().cpu().clone()

    def state_dict(self):
        return {"fisher": self.fisher, "anchor": self.anchor}

    def load_state_dict(self, state, net):
        self.fisher, self.anchor = dict(state.get("fisher", {})), dict(state.get("anchor", {}))


class LwF(Sequential):
    """``lwf``: Learning without Forgetting (Li & Hoiem 2016): on the new task's data, the heads of
    earlier tasks (task-agnostic: the shared head) are distilled from the model as it was after the
    previous task, KL at temperature ``T`` weighted by ``alpha``."""

    name = "lwf"

    def __init__(self, alpha: float = 1.0, T: float = 2.0) -> None:
        self.alpha, self.T = float(alpha), float(T)
        self.teacher = None
        self.seen: list[int] = []

    def _keys(self, net) -> list[str]:
        return sorted({net.head_key(t) for t in self.seen})

    def penalty(self, net, batch, h):
        if self.teacher is None:
            return None
        self.teacher.to(h.device)
        with torch.no_grad():
            ht = self.teacher.features(batch)
        total = h.new_zeros(())
        for key in self._keys(net):
            s = net.heads[key](net.dropout(h)) / self.T
            t = self.teacher.heads[key](ht) / self.T
            total = total + F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True,
                                     reduction="batchmean") * self.T ** 2
        return self.alpha * total

    def finish(self, net, stage, items, batches):
        self.seen.append(stage)
        self._snapshot(net)

    def _snapshot(self, net) -> None:
        self.teacher = copy.deepcopy(net).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    def state_dict(self):
        return {"seen": self.seen}  # the teacher is the saved net itself

    def load_state_dict(self, state, net):
        self.seen = list(state.get("seen", []))
        if self.seen:
            self._snapshot(net)


def build_strategy(cfg: Mapping[str, Any] | None):
    from tunelab.continual.lora_strategies import OLoRA, PerTaskLoRA

    known = {c.name: c for c in (Sequential, MultiTask, Replay, EWC, LwF, PerTaskLoRA, OLoRA)}
    cfg = dict(cfg or {})
    name = cfg.pop("name", None)
    if name not in known:
        raise ConfigError(f"cl.name: unknown strategy {name!r}; known: {', '.join(sorted(known))}")
    try:
        return known[name](**cfg)
    except TypeError as exc:
        raise ConfigError(f"cl: bad key for cl={name}: {exc}") from None
