"""``export(cfg)``: checkpoint -> standalone Hugging Face folder (+ peft adapter folder).

* full fine-tuning: the model as is;
* LoRA, AdaLoRA, IA3: the adapter is saved in peft's format, then merged into the base weights
  (``merge_and_unload``) so plain ``transformers`` loads the result without peft or tunelab;
* prefix/prompt tuning: virtual tokens cannot be merged into weights, so only the peft adapter
  folder is written (load it with ``PeftModel.from_pretrained`` on the base model);
* bottleneck adapters (ours): not linear, so not mergeable, and not a peft format: export refuses.

``format=onnx`` also writes ``<out_dir>/onnx`` (``model.onnx`` + tokenizer + labels, for
``serve.py backend=onnx``) and, with ``quantize=int8``, ``<out_dir>/onnx-int8`` (ONNX Runtime
dynamic int8): ``tunelab.export_onnx``, which refuses prefix/prompt tuning and causal LMs.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as L
from omegaconf import DictConfig

from tunelab import builders, export_onnx
from tunelab.errors import ConfigError
from tunelab.evaluation import load_checkpoint
from tunelab.quiet import quiet

MERGEABLE = {"lora", "adalora", "ia3"}
PROMPT_LEARNING = {"prefix_tuning", "prompt_tuning"}


def export(cfg: DictConfig) -> dict[str, str]:
    quiet()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    method = cfg.method.name
    fmt = cfg.get("format") or "hf"
    quantize = cfg.get("quantize") or None
    if method == "adapter":
        raise ConfigError("method.name: bottleneck adapters cannot be merged into the base weights; export full, lora, adalora or ia3 runs")
    export_onnx.check(cfg.data.get("task"), method, quantize, fmt)  # before any weight is loaded
    ckpt = load_checkpoint(cfg.ckpt_path)
    tokenizer = builders.build_tokenizer_from(cfg)
    dm = builders.build_datamodule(cfg, tokenizer)
    module = builders.build_module(cfg, dm, tokenizer)
    module.load_weights(ckpt["state_dict"])
    model = module.model.eval()
    out = Path(cfg.out_dir)
    written: dict[str, str] = {}
    if method in MERGEABLE | PROMPT_LEARNING:
        model.save_pretrained(str(out / "adapter"))
        written["adapter"] = str(out / "adapter")
        if method in PROMPT_LEARNING:
            return written
        model = model.merge_and_unload()
    model.save_pretrained(str(out / "model"))
    tokenizer.save_pretrained(str(out / "model"))
    (out / "model" / "tunelab_export.json").write_text(json.dumps(
        {"ckpt_path": str(cfg.ckpt_path), "method": method, "task": dm.task.name, "labels": dm.label_names}, indent=2))
    written["model"] = str(out / "model")
    if fmt == "onnx":
        opts = dict(cfg.get("onnx") or {})
        written.update(export_onnx.export_model(
            model, tokenizer, out, dm.task.name, dm.label_names, method, str(cfg.ckpt_path), quantize,
            opset=int(opts.get("opset", 17)), optimize_graph=bool(opts.get("optimize", False)),
            per_channel=bool(opts.get("per_channel", False)), reduce_range=bool(opts.get("reduce_range", False))))
    return written
