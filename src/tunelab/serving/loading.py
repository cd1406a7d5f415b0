"""``model=<exported folder | run dir | zoo name>`` -> what to serve.

Two steps, because LitServe loads the model in worker processes it spawns:

* ``describe(model)`` runs in the main process, reads only small JSON files, and fails there, as
  one line, on anything it cannot serve. Its ``ServeSpec`` is picklable: it travels to the workers
  and is the ``/info`` payload (task, labels, base model, method, the run's test metrics, commit,
  data fingerprint; read from ``run_info.json``/``metrics.json`` next to the model when present).
* ``load_model(spec)`` / ``load_tokenizer(spec)`` build the model in a worker (or in predict.py).

Sources:

* an exported folder (``export.py``'s ``<out>/model``, or ``<out>`` itself): plain transformers;
  its ``tunelab_export.json`` names task, labels, method and the checkpoint, whose run directory
  holds ``run_info.json`` and ``metrics.json``;
* a run directory (``run_info.json`` + ``checkpoints/``): the model is rebuilt from the run's own
  config and its tested checkpoint, exactly as ``export.py`` does, and LoRA/AdaLoRA/IA3 are merged
  (``merge_and_unload``) before serving; a pretraining run serves its ``hf_model`` folder;
* anything ``model.name_or_path`` accepts (a zoo name, ``pkg:``, a hub id): a Hugging Face folder
  whose ``architectures`` names a task head (a bare encoder such as ``minilm`` has nothing to serve).

What is served is the task's to say (``tunelab.tasks``): a task is servable when it declares a
serving IO kind (``serve_io``), and a folder without a tunelab record of its task is served as the
servable task whose head its ``architectures`` names (``Task.has_head``). Where two tasks share a
head (sequence and sentence-pair classification), the task recorded in the run beside the folder
decides, else the task that is its head's default (``serve_default_for_head``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab.errors import ConfigError


def _registered(name: str | None):
    """The task registered as ``name``; None if there is none (a run or export may name anything)."""
    from tunelab import tasks

    return tasks.get(name) if isinstance(name, str) and name in tasks.names() else None


def servable() -> list[str]:
    """The names of the tasks that declare a serving IO kind (``serve_io``)."""
    from tunelab import tasks

    return [name for name in tasks.names() if tasks.get(name).serve_io is not None]


def task_for_head(architecture: str, recorded: str | None = None):
    """The servable task whose head ``architecture`` (config.json) is; None: no such task. Where
    several tasks share the head, ``recorded`` (the run's own task) if it is one, else the default."""
    from tunelab import tasks

    found = [tasks.get(n) for n in servable() if tasks.get(n).has_head(architecture)]
    if len(found) > 1:
        found = [t for t in found if t.name == recorded] or [t for t in found if t.serve_default_for_head] or found
    return found[0] if found else None


@dataclass
class ServeSpec:
    kind: str  # "folder" (a Hugging Face folder) | "run" (rebuilt from a run's config + checkpoint)
    path: str  # the folder, or the run directory
    task: str
    labels: list[str]
    max_length: int
    encode_options: dict = field(default_factory=dict)
    checkpoint: str | None = None
    config: dict | None = None  # the run's resolved config (run kind)
    info: dict = field(default_factory=dict)

    @property
    def io(self) -> str | None:
        """The serving IO kind its task declares (``serve_io``): "generate" is /generate, others /predict."""
        from tunelab import tasks

        return tasks.get(self.task).serve_io


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model: {path} could not be read as JSON: {exc}") from None


def _run_dir_near(folder: Path, export: dict) -> Path | None:
    """The training run a folder came from: next to it, or the run of its exported checkpoint."""
    candidates = [folder, folder.parent]
    if export.get("ckpt_path"):
        candidates.append(Path(export["ckpt_path"]).parent.parent)
    return next((c for c in candidates if (c / "run_info.json").is_file()), None)


def _base_model(config: dict | None, hf_config: dict | None) -> str | None:
    model = (config or {}).get("model") or {}
    if model.get("name_or_path"):
        return str(model["name_or_path"])
    if model.get("from_scratch"):
        return f"from_scratch ({model['from_scratch'].get('model_type')})"
    return (hf_config or {}).get("_name_or_path") or None


def _info(task: str, labels: list[str], source: Path, kind: str, run: Path | None, method: str | None,
          hf_config: dict | None, max_length: int) -> dict:
    run_info = _read_json(run / "run_info.json") if run else {}
    metrics_file = next((p for p in ([run / "metrics.json"] if run else []) + [source / "metrics.json"] if p.is_file()), None)
    config = run_info.get("config") or {}
    data = run_info.get("data") or {}
    return {
        "task": task,
        "labels": labels,
        "base_model": _base_model(config, hf_config),
        "method": method or (config.get("method") or {}).get("name"),
        "metrics": _read_json(metrics_file) if metrics_file else {},
        "git_commit": run_info.get("git_commit"),
        "data": data.get("name"),
        "data_fingerprint": data.get("fingerprint"),
        "extra_train": data.get("extra_train"),
        "run_dir": str(run) if run else None,
        "source": str(source),
        "kind": kind,
        "max_length": max_length,
    }


def _folder_max_length(folder: Path, hf_config: dict) -> int:
    limits = [hf_config.get(k) for k in ("max_position_embeddings", "n_positions")]
    tok_cfg = folder / "tokenizer_config.json"
    if tok_cfg.is_file():
        limits.append(_read_json(tok_cfg).get("model_max_length"))
    limits = [int(x) for x in limits if isinstance(x, (int, float)) and 0 < x < 1_000_000]
    return min(limits) if limits else 512


def describe_folder(folder: Path, given: str) -> ServeSpec:
    hf_config = _read_json(folder / "config.json")
    export = _read_json(folder / "tunelab_export.json") if (folder / "tunelab_export.json").is_file() else {}
    run = _run_dir_near(folder, export)
    run_cfg = (_read_json(run / "run_info.json").get("config") or {}) if run else {}
    data_cfg = run_cfg.get("data") or {}
    if export:
        name, labels = export["task"], list(export["labels"])
    else:
        arch = (hf_config.get("architectures") or [""])[0]
        head_task = task_for_head(arch, data_cfg.get("task"))
        if head_task is None:
            raise ConfigError(f"model: {given!r} is a {arch or 'headless'} model with no task head to serve; "
                              "serve an exported folder, a run directory, or a causal LM")
        name = head_task.name
        id2label = hf_config.get("id2label") or {}
        labels = [] if head_task.serve_io == "generate" else [id2label[k] for k in sorted(id2label, key=int)]
    task = _registered(name)
    if task is None or task.serve_io is None:
        raise ConfigError(f"model: {given!r} is a {name} model; serve.py serves {', '.join(servable())}")
    max_length = int(data_cfg.get("max_length") or _folder_max_length(folder, hf_config))
    if task.serve_io == "generate":  # a prompt and its answer share the model's context, not the training blocks
        max_length = _folder_max_length(folder, hf_config)
    info = _info(name, labels, folder, "folder", run, export.get("method"), hf_config, max_length)
    return ServeSpec("folder", str(folder), name, labels, max_length, dict(data_cfg.get("encode_options") or {}),
                     info=info)


def _tested_checkpoint(run: Path, run_info: dict) -> Path:
    recorded = run_info.get("tested_checkpoint")
    if recorded:
        for p in (Path(recorded), run / "checkpoints" / Path(recorded).name):
            if p.is_file():
                return p
    ckpts = sorted((run / "checkpoints").glob("*.ckpt"))
    best = [p for p in ckpts if p.name != "last.ckpt"]
    if best or ckpts:
        return (best or ckpts)[-1]
    raise ConfigError(f"model: run directory {run} has no checkpoint (checkpoints/*.ckpt)")


def describe_run(run: Path, given: str) -> ServeSpec:
    run_info = _read_json(run / "run_info.json")
    config = run_info.get("config") or {}
    name = (config.get("data") or {}).get("task")
    task = _registered(name)
    if task is not None and task.pretraining:  # what it serves is the model its run exported
        hf = run / "hf_model"
        if task.serve_io is None:
            raise ConfigError(f"model: {given!r} is a {name} pretraining run with nothing to serve "
                              f"({task.serve_refusal})")
        if not ((hf / "config.json").is_file() or (hf / "adapter_config.json").is_file()):
            raise ConfigError(f"model: {given!r} is a {name} pretraining run with nothing to serve "
                              f"(no model or adapter in {hf}; a finished {name} run exports one there)")
        if (hf / "config.json").is_file():
            spec = describe_folder(hf, given)
        else:  # a peft run saved only its adapter: generation.load merges it into its base
            from tunelab.generation import adapter_base
            from tunelab.models.backbone import resolve_source

            base = Path(resolve_source(adapter_base(hf), "model (adapter base)"))
            max_length = _folder_max_length(base, _read_json(base / "config.json"))
            spec = ServeSpec("folder", str(hf), name, [], max_length)
        spec.info = _info(name, [], hf, "folder", run, None, None, spec.max_length)
        return spec
    if task is None or task.serve_io is None:
        raise ConfigError(f"model: {given!r}: run of task {name!r}; serve.py serves {', '.join(servable())}")
    labels_file = run / "labels.json"
    if not labels_file.is_file():
        raise ConfigError(f"model: run directory {run} has no labels.json")
    labels = list(_read_json(labels_file))
    ckpt = _tested_checkpoint(run, run_info)
    max_length = int(config["data"].get("max_length") or 512)
    info = _info(name, labels, run, "run", run, None, None, max_length)
    info["checkpoint"] = str(ckpt)
    return ServeSpec("run", str(run), name, labels, max_length, dict(config["data"].get("encode_options") or {}),
                     checkpoint=str(ckpt), config=config, info=info)


def describe(model: str) -> ServeSpec:
    """What ``model`` is and what serving it needs; a ConfigError (one line) if it cannot be served."""
    if not model:
        raise ConfigError("model: required (an exported folder, a run directory or a zoo name)")
    path = Path(str(model)).expanduser()
    if path.is_dir():
        if (path / "run_info.json").is_file() and (path / "checkpoints").is_dir():
            return describe_run(path, model)
        for folder in (path, path / "model"):
            if (folder / "config.json").is_file():
                return describe_folder(folder, model)
        if (path / "adapter_config.json").is_file() or (path / "adapter" / "adapter_config.json").is_file():
            raise ConfigError(f"model: {model!r} is a peft adapter folder without merged weights "
                              "(prefix/prompt tuning); serve its run directory instead")
        raise ConfigError(f"model: {model!r} is neither a model folder (config.json) nor a run directory "
                          "(run_info.json + checkpoints/)")
    from tunelab.models.backbone import resolve_source

    source = resolve_source(str(model), "model")  # zoo name or pkg: -> folder (a zoo name is fetched)
    if not Path(source).is_dir():
        raise ConfigError(f"model: no such folder, run directory or zoo name {model!r}")
    return describe_folder(Path(source), model)


# -- in the worker -----------------------------------------------------------------------------
def load_tokenizer(spec: ServeSpec):
    if spec.kind == "run":
        from tunelab.models.backbone import build_tokenizer

        return build_tokenizer(spec.config["model"])
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(spec.path)


def load_causal_lm(spec: ServeSpec):
    """(tokenizer, model) of a causal LM: generate.py's loader (a peft run's adapter merged)."""
    from tunelab.generation import load
    from tunelab.quiet import quiet

    quiet()
    return load(spec.path)


def load_model(spec: ServeSpec):
    """The model in eval mode; a run's PEFT adapter merged into the base weights where it can be."""
    from tunelab import tasks
    from tunelab.quiet import quiet

    quiet()
    task = tasks.get(spec.task)
    if spec.kind == "folder":
        import transformers

        return getattr(transformers, task.auto_class).from_pretrained(spec.path).eval()
    return _load_run(spec).eval()


def _load_run(spec: ServeSpec):
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from tunelab import builders, tasks
    from tunelab.evaluation import load_checkpoint
    from tunelab.export import MERGEABLE

    cfg = OmegaConf.create(spec.config)
    tokenizer = load_tokenizer(spec)
    # build_module reads the task and labels off the datamodule; the data itself is not needed.
    dm = SimpleNamespace(task=tasks.get(spec.task), label_names=list(spec.labels), records={"train": []})
    module = builders.build_module(cfg, dm, tokenizer)
    module.load_weights(load_checkpoint(spec.checkpoint)["state_dict"])
    model = module.model
    if cfg.method.name in MERGEABLE:
        model = model.merge_and_unload()
    return model
