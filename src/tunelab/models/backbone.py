"""Build the backbone: a Hugging Face model with the task's head, plus its tokenizer.

``name_or_path`` may be, tried in this order,
* ``pkg:<module>/<folder>``: a folder inside an installed package (the offline MiniLM default),
* a local folder (absolute or relative path),
* a zoo name (``minilm``, ``mpnet``, ``me5_small``, ``smollm2_135m``; ``python -m tunelab.models
  list``): its folder in the cache, fetched on first use (tunelab.zoo),
* a hub id (downloaded by ``from_pretrained``; needs network).
``from_scratch`` (a config dict with ``model_type``) builds randomly initialised weights instead.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any, Mapping

from tunelab.errors import ConfigError

log = logging.getLogger(__name__)

# Set on a loaded model: the parameter tensors ``from_pretrained`` initialised afresh (missing in
# the source: a new head, BERT's pooler when the source is an MLM export). A checkpoint that keeps
# only trainable weights must still keep these, or a reload rebuilds them with another seed.
FRESH_ATTR = "tunelab_fresh_params"


def resolve_source(spec: str, key: str = "model.name_or_path") -> str:
    """Turn a ``pkg:`` spec or a local path into a folder; leave hub ids as they are."""
    if spec.startswith("pkg:"):
        module, _, sub = spec[4:].partition("/")
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            raise ConfigError(f"{key}: package {module!r} is not installed (pip install {module.replace('_', '-')})")
        folder = Path(list(found.submodule_search_locations)[0]) / sub
        if not folder.is_dir():
            raise ConfigError(f"{key}: {spec!r} -> {folder} is not a folder")
        return str(folder)
    path = Path(spec).expanduser()
    if path.exists():
        return str(path)
    from tunelab.zoo import catalog, fetch

    if spec in catalog.MODELS:
        return str(fetch.fetch(spec))
    # Something that can only be a path (hub ids are `name` or `org/name`) must exist.
    if spec.startswith(("/", "./", "../", "~")) or spec.count("/") > 1 or path.suffix:
        raise ConfigError(f"{key}: no such model folder {spec!r}")
    return spec


def _from_pretrained(cls, source: str, key: str, **kwargs):
    try:
        return cls.from_pretrained(source, **kwargs)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{key}: could not load {source!r} as a local folder or hub id: {first}{_zoo_hint(source)}") from exc


def _zoo_hint(source: str) -> str:
    """A misspelt zoo name reaches the hub as an id: point at the zoo name it was probably meant to be."""
    import difflib

    from tunelab.zoo import catalog

    close = difflib.get_close_matches(source, list(catalog.MODELS), n=1, cutoff=0.75)
    return f" (did you mean the zoo model {close[0]!r}? python -m tunelab.models list)" if close else ""


def build_tokenizer(model_cfg: Mapping[str, Any]):
    from transformers import AutoTokenizer

    spec = model_cfg.get("tokenizer") or model_cfg.get("name_or_path")
    if not spec:
        raise ConfigError("model.tokenizer: a from-scratch model needs a tokenizer folder")
    key = "model.tokenizer" if model_cfg.get("tokenizer") else "model.name_or_path"
    return _from_pretrained(AutoTokenizer, resolve_source(spec, key), key)


def scratch_config(scratch: Mapping[str, Any], tokenizer=None, **defaults):
    """A randomly initialised model's config: ``model_type`` plus its fields; the vocabulary is
    sized to the tokenizer unless the config says otherwise (``defaults`` fill unset fields)."""
    import transformers

    fields = dict(scratch)
    model_type = fields.pop("model_type", None)
    if not model_type:
        raise ConfigError("model.from_scratch.model_type: required (e.g. bert, gpt2)")
    if tokenizer is not None:
        fields.setdefault("vocab_size", len(tokenizer))
    for key, value in defaults.items():
        fields.setdefault(key, value)
    return transformers.AutoConfig.for_model(model_type, **fields)


def build_model(model_cfg: Mapping[str, Any], task, label_names: list[str], tokenizer=None):
    """The task's Hugging Face auto model with a ``len(label_names)``-way head."""
    id2label = dict(enumerate(label_names))
    label2id = {n: i for i, n in id2label.items()}
    return _build(model_cfg, task, tokenizer, num_labels=len(label_names), id2label=id2label, label2id=label2id)


def _build(model_cfg: Mapping[str, Any], task, tokenizer, **head):
    import transformers

    from tunelab import tasks

    cls = getattr(transformers, tasks.get(task).auto_class)
    if model_cfg.get("from_scratch"):
        config = scratch_config(model_cfg["from_scratch"], tokenizer, **head)
        model = cls.from_config(config)
        setattr(model, FRESH_ATTR, [])  # everything is fresh; such checkpoints keep every tensor
    else:
        source = resolve_source(model_cfg["name_or_path"])
        model, info = _from_pretrained(cls, source, "model.name_or_path", output_loading_info=True, **head)
        missing = set(info.get("missing_keys", []))
        fresh = [p for n, p in model.named_parameters() if n in missing]
        setattr(model, FRESH_ATTR, fresh)
        if fresh:
            log.info("%s: %d tensors initialised afresh (not in the source), e.g. %s", source, len(fresh),
                     sorted(missing)[0])
    if tokenizer is not None:
        emb = model.get_input_embeddings().num_embeddings
        if len(tokenizer) > emb:
            raise ConfigError(
                f"model.tokenizer: tokenizer has {len(tokenizer)} tokens but the model embeds only {emb}"
            )
    return model


def fresh_parameter_names(model, fresh: list) -> list[str]:
    """Names, in ``model`` (possibly wrapped by peft since), of the freshly initialised tensors.

    A head in peft's ``modules_to_save`` trains as a copy (saved as trainable); the frozen
    ``original_module`` it was copied from is only there to disable the adapter, never used in the
    forward pass, so it is left out."""
    ids = {id(p) for p in fresh}
    return [n for n, p in model.named_parameters() if id(p) in ids and ".original_module." not in n]


def count_parameters(model) -> dict[str, int | float]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, "trainable_pct": 100.0 * trainable / max(total, 1)}


def build_lm_model(model_cfg: Mapping[str, Any], task, tokenizer):
    """A masked- or causal-LM model: from scratch (vocabulary sized to the tokenizer, its special
    token ids in the config) or continued from a pretrained folder. A source without an LM head
    (MiniLM's package) gets a fresh one, and the log says so."""
    special = {}
    if model_cfg.get("from_scratch"):
        special = {k: getattr(tokenizer, k) for k in ("pad_token_id", "bos_token_id", "eos_token_id")
                   if getattr(tokenizer, k, None) is not None}
    from tunelab import tasks

    task = tasks.get(task)
    model = _build(model_cfg, task, tokenizer, **special)
    base = getattr(model, model.base_model_prefix, None)
    backbone = {id(p) for p in base.parameters()} if base is not None else set()
    head = [p for p in getattr(model, FRESH_ATTR) if id(p) not in backbone]
    if head and not model_cfg.get("from_scratch"):
        log.warning("%s has no %s head: a fresh one was initialised (%d tensors)",
                    model_cfg["name_or_path"], task.name.upper(), len(head))
    return model
