"""Several LoRA adapters of one base, served from one process, chosen per request (``"adapter"``).

``serve.py model=<main model> adapters='{ncbi: <export>/adapter, bc5cdr: <export2>/adapter}'``:
each value is a peft adapter folder (``export.py`` writes one beside the merged model). The worker
builds the base once (``adapter_config.json``'s ``base_model_name_or_path``, with the task's head)
and loads every adapter into one ``PeftModel`` under its name; a request naming an adapter is
answered by that adapter (``set_adapter``, unmerged), one without by the main model (merged).
Every adapter must share the base, the task and the label set of the main model (one head shape).
Adapters are switched on ``/predict`` for tasks with a peft ``TaskType`` (the task's
``peft_task_type``, which each adapter's ``adapter_config.json`` must name).

What it costs (experiments/serving/bench_adapters.md: MiniLM, r=8, 1 thread on a busy 2-core CPU):
per adapter its LoRA matrices and a copy of the head (74,883 parameters, 0.29 MB on disk, 0.38 MB
resident), plus once an unmerged copy of the base (+43-86 MB). Memory would fit tens of thousands;
time is the limit: peft's adapter switch visits every loaded adapter (0.5 ms at 1, 7 ms at 64), so a
batch-1 request on an adapter was 1.13x the merged model's time at 1 adapter and 1.82x at 64, loading
grows ~quadratically (3 s for 64), and requests for different adapters in one dynamic batch run as
separate forward passes (1.98x at batch 32 over 32 adapters). Tens to a few hundred per worker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from tunelab.errors import ConfigError


def _task_type(task) -> str | None:
    """The peft TaskType an adapter of ``task`` (a Task or a registered name) must have; None: the
    task takes no per-request adapters (no /predict, or no peft TaskType to check them against)."""
    from tunelab import tasks
    from tunelab.serving import task_io

    return tasks.get(task).peft_task_type if task_io.predicts(task) else None


def describe(spec, adapters: Mapping[str, str] | None) -> dict[str, str]:
    """Check the adapter folders against the main model (main process, JSON files only)."""
    if not adapters:
        return {}
    task_type = _task_type(spec.task)
    if task_type is None:
        from tunelab import tasks

        able = [name for name in tasks.names() if _task_type(name)]
        raise ConfigError(f"adapters: serving several adapters is for {', '.join(able)}; "
                          f"the model is {spec.task}")
    out, bases = {}, set()
    for name, given in adapters.items():
        folder = Path(str(given)).expanduser()
        if (folder / "adapter" / "adapter_config.json").is_file():
            folder = folder / "adapter"  # export.py's out_dir
        if not (folder / "adapter_config.json").is_file():
            raise ConfigError(f"adapters.{name}: {given} is not a peft adapter folder (no adapter_config.json)")
        config = json.loads((folder / "adapter_config.json").read_text())
        if config.get("peft_type") != "LORA":
            raise ConfigError(f"adapters.{name}: a {config.get('peft_type')} adapter; only LoRA adapters are switched per request")
        if config.get("task_type") != task_type:
            raise ConfigError(f"adapters.{name}: task type {config.get('task_type')}, the model is {spec.task}")
        export = folder.parent / "model" / "tunelab_export.json"
        if export.is_file() and json.loads(export.read_text()).get("labels") != spec.labels:
            raise ConfigError(f"adapters.{name}: its labels differ from the model's {spec.labels[:5]}...")
        bases.add(config.get("base_model_name_or_path"))
        out[str(name)] = str(folder.resolve())
    if len(bases) > 1:
        raise ConfigError(f"adapters: one base for all adapters; got {sorted(map(str, bases))}")
    return out


def load(spec, adapters: Mapping[str, str]):
    """One PeftModel holding every adapter under its name (worker)."""
    import transformers
    from peft import PeftModel

    from tunelab import tasks

    names = list(adapters)
    base_path = json.loads((Path(adapters[names[0]]) / "adapter_config.json").read_text())["base_model_name_or_path"]
    labels = list(spec.labels)
    cls = getattr(transformers, tasks.get(spec.task).auto_class)
    base = cls.from_pretrained(base_path, num_labels=len(labels), id2label=dict(enumerate(labels)),
                               label2id={n: i for i, n in enumerate(labels)})
    model = PeftModel.from_pretrained(base, adapters[names[0]], adapter_name=names[0])
    for name in names[1:]:
        model.load_adapter(adapters[name], adapter_name=name)
    return model.eval()


class AdapterBackend:
    """The pytorch backend of one adapter of a shared PeftModel."""

    def __init__(self, shared, name: str) -> None:
        self.shared, self.adapter = shared, name
        self.name, self.device = shared.name, shared.device

    def logits(self, batch):
        self.shared.model.set_adapter(self.adapter)  # a worker runs one batch at a time
        return self.shared.logits(batch)
