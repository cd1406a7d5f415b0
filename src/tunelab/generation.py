"""Sampling from a causal LM: a clm pretraining run (its folder or its ``hf_model``), a zoo name
(``smollm2_135m``) or any causal-LM folder.

A run trained with a peft method (LoRA...) saved only its adapter in ``hf_model``: the adapter is
loaded onto the base model it names and merged. When the tokenizer has a chat template (an instruct
model like SmolLM2-Instruct) each prompt becomes a user turn and the template is applied with the
assistant's turn opened (``add_generation_prompt``); the reply alone is printed. ``chat_template``:
``auto`` (use it when the tokenizer has one), ``true`` (require one), ``false`` (plain text: the
prompt is tokenized as is and printed with its continuation, as for a model without a template).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from tunelab.errors import ConfigError
from tunelab.models.backbone import resolve_source

CHAT_MODES = ("auto", "true", "false")


def chat_mode(value: Any) -> str:
    """``chat_template`` as one of auto|true|false (YAML may hand over a bool)."""
    mode = str(value).strip().lower() if value is not None else "auto"
    if mode not in CHAT_MODES:
        raise ConfigError(f"chat_template: {value!r} is not one of auto, true, false")
    return mode


def uses_chat(tokenizer, mode: str, what: str = "model_path") -> bool:
    has = bool(getattr(tokenizer, "chat_template", None))
    if mode == "true" and not has:
        raise ConfigError(f"chat_template: true, but the tokenizer of {what} has no chat template; "
                          "use chat_template=auto or false")
    return has and mode != "false"


def as_messages(prompt: str | Sequence[Mapping[str, str]], system: str | None = None) -> list[dict[str, str]]:
    """A prompt as one user turn (after ``system`` if given), or a conversation as it is."""
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    else:
        messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]
    if system and not (messages and messages[0]["role"] == "system"):
        messages.insert(0, {"role": "system", "content": str(system)})
    return messages


def encode_prompt(tokenizer, prompt: str | Sequence[Mapping[str, str]], chat_template: Any = "auto",
                  system: str | None = None, what: str = "model_path") -> tuple[dict[str, torch.Tensor], bool]:
    """Model inputs (batch of one) for ``prompt`` (text, or a list of {role, content} messages) and
    whether the chat template was applied."""
    if uses_chat(tokenizer, chat_mode(chat_template), what):
        enc = tokenizer.apply_chat_template(as_messages(prompt, system), add_generation_prompt=True,
                                            tokenize=True, return_dict=True, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}, True
    if not isinstance(prompt, str):
        raise ConfigError(f"messages: a conversation needs a chat template, and the tokenizer of {what} has none "
                          "(or chat_template=false); pass prompt= instead")
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}, False


def model_folder(model_path: str) -> str:
    """The folder to load: a run directory means its ``hf_model``; zoo names and paths resolve."""
    source = resolve_source(model_path, "model_path")
    if (Path(source) / "hf_model").is_dir() and not (Path(source) / "config.json").is_file():
        return str(Path(source) / "hf_model")
    return source


def adapter_base(folder: Path) -> str:
    """The base model of a peft adapter folder: the folder it was trained from, else (another machine,
    another cache) the ``model.name_or_path`` its run recorded (a zoo name resolves anywhere)."""
    spec = json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if spec and Path(spec).expanduser().exists():
        return spec
    info = folder.parent / "run_info.json"
    if info.is_file():
        recorded = json.loads(info.read_text()).get("config", {}).get("model", {}).get("name_or_path")
        if recorded:
            return recorded
    if not spec:
        raise ConfigError(f"model_path: {folder}/adapter_config.json names no base model")
    return spec


def load(model_path: str):
    """(tokenizer, model in eval mode). A peft adapter folder is merged into its base model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = model_folder(model_path)
    adapter = Path(source) / "adapter_config.json"
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        if adapter.is_file():
            from peft import PeftModel

            base = AutoModelForCausalLM.from_pretrained(resolve_source(adapter_base(Path(source)),
                                                                       "model_path (adapter base)"))
            with warnings.catch_warnings():  # peft 0.21 calls a transformers 5 name deprecated for v6
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
                model = PeftModel.from_pretrained(base, source).merge_and_unload()
        else:
            model = AutoModelForCausalLM.from_pretrained(source)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"model_path: {model_path!r} is not a causal LM folder: {first}") from exc
    return tokenizer, model.eval()


def generate(model_path: str, prompts: list, sampling: Mapping[str, Any], seed: int = 0) -> list[str]:
    """One sample per prompt. ``sampling``: temperature (0 = greedy), top_k, top_p, max_new_tokens,
    chat_template (auto|true|false), system, messages (a conversation; replaces ``prompts``)."""
    tokenizer, model = load(model_path)
    mode = chat_mode(sampling.get("chat_template", "auto"))
    system = sampling.get("system")
    messages = sampling.get("messages")
    if messages:
        prompts = [[dict(m) for m in messages]]
    torch.manual_seed(seed)
    temperature = float(sampling.get("temperature", 1.0))
    kwargs = {
        "max_new_tokens": int(sampling.get("max_new_tokens", 50)),
        "do_sample": temperature > 0,
        "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    }
    if temperature > 0:  # temperature 0 means greedy decoding
        kwargs.update(temperature=temperature, top_k=int(sampling.get("top_k", 50)), top_p=float(sampling.get("top_p", 1.0)))
    out = []
    for prompt in prompts:
        enc, chat = encode_prompt(tokenizer, prompt, mode, system, repr(model_path))
        with torch.no_grad():
            ids = model.generate(**enc, **kwargs)
        # A chat reply is printed alone; plain text keeps its prompt (a continuation reads on from it).
        new = ids[0, enc["input_ids"].shape[1]:] if chat else ids[0]
        out.append(tokenizer.decode(new, skip_special_tokens=True).strip() if chat
                   else tokenizer.decode(new, skip_special_tokens=True))
    return out
