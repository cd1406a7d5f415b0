"""ONNX export: a task model -> a folder ``serve.py backend=onnx`` / ``predict.py backend=onnx`` load.

``python export.py ... format=onnx [quantize=int8]`` writes, beside ``<out_dir>/model`` (the Hugging
Face folder, LoRA merged, which stays the reference):

* ``<out_dir>/onnx``: ``model.onnx`` (fp32) with dynamic batch and sequence axes (and choices, for
  multiple choice), the tokenizer, ``config.json`` (labels, architecture) and ``tunelab_export.json``
  (task, labels, method, checkpoint; ``format: onnx``), so ``loading.describe`` reads it as any
  exported folder and the Predictor's task decoding is unchanged;
* with ``quantize=int8``, ``<out_dir>/onnx-int8``: the same, with ``model.onnx`` dynamically quantised
  by ONNX Runtime (``onnxruntime.quantization.quantize_dynamic``: int8 weights, activations
  quantised per batch at run time; nothing to calibrate).

The graph is traced by ``torch.onnx.export(..., dynamo=False)``, the TorchScript exporter: it needs
only ``onnx``, while the dynamo exporter (torch's default since 2.9) needs ``onnxscript`` too and
gains nothing on these encoder graphs. optimum is not used: it would replace transformers 5 with
4.57. Attention is traced in its eager form (softmax(QK^T)V), the pattern ONNX Runtime recognises.
``onnx.optimize=true`` first runs ONNX Runtime's offline transformer fusions (Attention,
SkipLayerNorm, BiasGelu; BERT-like encoders): off by default, because on the AVX512-VNNI Xeon this
was written on the fused graph was slower (MiniLM, batch 32: fp32 256 vs 224 ms, int8 110 vs 90 ms).

Not exported, each refused in one line: prefix/prompt tuning (virtual tokens are not weights),
bottleneck adapters (not mergeable), causal LMs (generation loops over a KV cache: serve them with
PyTorch), masked-LM pretraining runs.
"""

from __future__ import annotations

import inspect
import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

from tunelab.errors import ConfigError

FORMATS = ("hf", "onnx")
QUANTIZE = ("int8",)


def _io(task: str) -> str | None:
    """The serving IO kind the task declares (tunelab.tasks): the export's shapes follow it, and
    exactly the tasks served on /predict are exported."""
    from tunelab.serving import task_io

    return task_io.kind(task)


def exported_tasks() -> list[str]:
    from tunelab import tasks
    from tunelab.serving import task_io

    return [name for name in tasks.names() if task_io.predicts(name)]
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
ONNX_FILE = "model.onnx"
FOLDERS = {None: "onnx", "int8": "onnx-int8"}
# model_type -> onnxruntime.transformers.optimizer model_type (the fusions it knows)
_OPTIMIZER_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "camembert": "bert",
                    "distilbert": "bert", "electra": "bert", "mpnet": "bert", "deberta-v2": "bert"}
EXTRA = "pip install 'tunelab[onnx]'  (onnxruntime, onnx)"


def check(task: str, method: str | None, quantize: str | None, fmt: str = "onnx") -> None:
    """Refuse, in one line, what the ONNX export does not do (before any weight is loaded)."""
    if fmt not in FORMATS:
        raise ConfigError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt != "onnx":
        if quantize is not None:
            raise ConfigError(f"quantize: {quantize!r} needs format=onnx (quantisation is ONNX Runtime's)")
        return
    if quantize is not None and quantize not in QUANTIZE:
        raise ConfigError(f"quantize: {quantize!r} is not one of null, {', '.join(QUANTIZE)}")
    if method in ("prefix_tuning", "prompt_tuning"):
        raise ConfigError(f"format=onnx: {method} keeps virtual tokens outside the weights, so there is no merged "
                          "model to export; export full, lora, adalora or ia3 runs")
    if method == "adapter":
        raise ConfigError("format=onnx: bottleneck adapters cannot be merged into the base weights; "
                          "export full, lora, adalora or ia3 runs")
    if _io(task) == "generate":
        raise ConfigError("format=onnx: causal LMs are not exported (generation loops over a KV cache); "
                          "serve them with backend=pytorch")
    if task not in exported_tasks():
        raise ConfigError(f"format=onnx: task {task!r} is not exported; ONNX export covers {', '.join(exported_tasks())}")
    require_runtime()


def require_runtime() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"format=onnx: {exc.name} is not installed; {EXTRA}") from None


def input_names(model, tokenizer) -> list[str]:
    """The model inputs to export: what its forward takes and the tokenizer produces."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    accepted = set(inspect.signature(base.forward).parameters)
    produced = set(getattr(tokenizer, "model_input_names", None) or INPUT_NAMES) | {"input_ids", "attention_mask"}
    return [k for k in INPUT_NAMES if k in accepted and k in produced]


def _sample(tokenizer, names: list[str], task: str) -> dict[str, Any]:
    """Real token ids of two texts of different lengths (one padded row), shaped for ``task``."""
    texts = ["a short text", "a slightly longer text, with some punctuation and numbers 42"]
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    inputs = {k: enc[k] if k in enc else enc["input_ids"] * 0 for k in names}
    if _io(task) == "choice":  # (batch, choices, sequence): 2 questions x 2 options
        inputs = {k: v.unsqueeze(0).repeat(2, 1, 1) for k, v in inputs.items()}
    return inputs


def _logits_module(model, names: list[str]):
    """forward(*inputs) -> logits: the positional signature torch.onnx.export traces."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args):
            return self.model(**dict(zip(names, args))).logits

    # eval() on the wrapper: the exporter puts the wrapper's training flag back onto the whole tree
    # afterwards, and a wrapper left in training mode would switch dropout on in ``model``.
    return Logits().eval()


def _dynamic_axes(task: str, names: list[str]) -> dict[str, dict[int, str]]:
    if _io(task) == "choice":
        axes = {k: {0: "batch", 1: "choices", 2: "sequence"} for k in names}
        axes["logits"] = {0: "batch", 1: "choices"}
    else:
        axes = {k: {0: "batch", 1: "sequence"} for k in names}
        axes["logits"] = {0: "batch", 1: "sequence"} if _io(task) == "tokens" else {0: "batch"}
    return axes


def _eager_attention(model) -> None:
    """Trace the plain softmax(QK^T)V attention: ONNX Runtime's optimizer fuses that pattern into its
    Attention op (the SDPA path traces into masks and NaN checks it does not recognise)."""
    if getattr(model.config, "_attn_implementation", None) in (None, "eager"):
        return
    try:
        model.set_attn_implementation("eager")
    except (AttributeError, ValueError):  # an architecture without the switch: traced as it is
        pass


def to_onnx(model, tokenizer, path: Path, task: str, opset: int = 17) -> list[str]:
    """Trace ``model`` (eval mode, fp32, CPU) into ``path``; the input names it takes."""
    import torch

    model = model.float().cpu().eval()
    _eager_attention(model)
    names = input_names(model, tokenizer)
    sample = _sample(tokenizer, names, task)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings on shape-dependent Python branches
        torch.onnx.export(_logits_module(model, names), tuple(sample[k] for k in names), str(path),
                          input_names=names, output_names=["logits"], dynamic_axes=_dynamic_axes(task, names),
                          opset_version=int(opset), do_constant_folding=True, dynamo=False)
    model.eval()
    import onnx

    onnx.checker.check_model(str(path))
    return names


def optimize(path: Path, config, out: Path) -> bool:
    """ONNX Runtime's offline transformer fusions (attention, LayerNorm, GELU) where it knows the
    architecture; False (``out`` not written) where it does not."""
    model_type = _OPTIMIZER_TYPES.get(getattr(config, "model_type", None))
    if model_type is None:
        return False
    from onnxruntime.transformers import optimizer

    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    opt = optimizer.optimize_model(str(path), model_type=model_type, num_heads=heads, hidden_size=hidden,
                                   opt_level=1, use_gpu=False, only_onnxruntime=False)
    opt.save_model_to_file(str(out))
    return True


def quantize_int8(src: Path, dst: Path, per_channel: bool = False, reduce_range: bool = False) -> None:
    """Dynamic int8 (weights int8, activations quantised per batch): ONNX Runtime's quantizer."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dst.parent.mkdir(parents=True, exist_ok=True)
    # The quantizer logs to the root logger: per-tensor INFO lines (shown under Hydra's logging)
    # and advice to pre-process first, which does not apply: symbolic shape inference fails on these
    # graphs ("Incomplete symbolic shape inference"), and dynamic quantisation needs no shapes.
    root = logging.getLogger()
    hush = _Quiet("Please consider to run pre-processing")
    root.addFilter(hush)
    try:
        # DefaultTensorType: shape inference cannot type the outputs of ORT's fused (contrib) ops.
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=bool(per_channel),
                         reduce_range=bool(reduce_range), extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.removeFilter(hush)


class _Quiet(logging.Filter):
    """Drop records below WARNING, and warnings that start with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING and not str(record.msg).startswith(self.prefix)


def _write_folder(folder: Path, onnx_file: Path, config, tokenizer, meta: Mapping[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if onnx_file != folder / ONNX_FILE:
        shutil.copyfile(onnx_file, folder / ONNX_FILE)
    config.save_pretrained(str(folder))  # labels and architecture: what describe() reads
    tokenizer.save_pretrained(str(folder))
    (folder / "tunelab_export.json").write_text(json.dumps(dict(meta), indent=2))


def export_model(model, tokenizer, out_dir: str | Path, task: str, labels: list[str], method: str | None = None,
                 ckpt_path: str | None = None, quantize: str | None = None, opset: int = 17,
                 optimize_graph: bool = False, per_channel: bool = False, reduce_range: bool = False) -> dict[str, str]:
    """``<out_dir>/onnx`` (fp32) and, with ``quantize="int8"``, ``<out_dir>/onnx-int8``: servable folders."""
    check(task, method, quantize)
    import onnxruntime
    import torch

    out = Path(out_dir)
    base = {"ckpt_path": str(ckpt_path) if ckpt_path else None, "method": method, "task": task,
            "labels": list(labels), "format": "onnx", "opset": int(opset),
            "exporter": f"torch.onnx.export dynamo=False (TorchScript), torch {torch.__version__}",
            "onnxruntime": onnxruntime.__version__}
    written: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="tunelab-onnx-") as tmp:
        traced = Path(tmp) / "traced.onnx"
        names = to_onnx(model, tokenizer, traced, task, opset)
        fp32 = traced
        fused = Path(tmp) / "fused.onnx"
        optimized = bool(optimize_graph) and optimize(traced, model.config, fused)
        if optimized:
            fp32 = fused
        meta = {**base, "inputs": names, "optimized": optimized, "quantize": None}
        _write_folder(out / FOLDERS[None], fp32, model.config, tokenizer, meta)
        written["onnx"] = str(out / FOLDERS[None])
        if quantize == "int8":
            q = Path(tmp) / "int8.onnx"
            quantize_int8(fp32, q, per_channel, reduce_range)
            meta = {**meta, "quantize": "int8", "per_channel": bool(per_channel), "reduce_range": bool(reduce_range)}
            _write_folder(out / FOLDERS["int8"], q, model.config, tokenizer, meta)
            written["onnx-int8"] = str(out / FOLDERS["int8"])
    return written


def export_folder(folder: str | Path, out_dir: str | Path, quantize: str | None = None, **options) -> dict[str, str]:
    """ONNX folders from an exported Hugging Face folder (``tunelab_export.json`` names task and labels)."""
    import transformers

    from tunelab import tasks

    folder = Path(folder)
    marker = folder / "tunelab_export.json"
    if not marker.is_file():
        raise ConfigError(f"model: {folder} has no tunelab_export.json (export.py writes it)")
    meta = json.loads(marker.read_text())
    check(meta["task"], meta.get("method"), quantize)
    auto = getattr(transformers, tasks.get(meta["task"]).auto_class)
    model = auto.from_pretrained(str(folder)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    return export_model(model, tokenizer, out_dir, meta["task"], meta["labels"], meta.get("method"),
                        meta.get("ckpt_path"), quantize, **options)
