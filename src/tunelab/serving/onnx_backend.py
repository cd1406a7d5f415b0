"""The ``onnx`` backend: ``serve.py backend=onnx`` / ``predict.py backend=onnx`` run ``model.onnx``
(``python export.py ... format=onnx [quantize=int8]``) in an ONNX Runtime ``InferenceSession``.

``logits(batch)`` feeds the session the padded ``input_ids``/``attention_mask``/``token_type_ids``
it declares (int64; ``token_type_ids`` zeros if a batch has none) and returns its ``logits`` as a
float32 torch tensor on the CPU, so the Predictor's task decoding (word-level NER decisions,
probabilities) is the same code as for PyTorch.

Dynamic int8 quantises activations with one scale per tensor computed on each batch, so an int8
answer depends a little on the texts batched with it (dynamic batching, ``batch_texts``): scores move
in the third decimal and a near-tie decision can flip; fp32 ONNX, like PyTorch, gives every text the
same logits in any batch (within float noise).

Threads: the session's intra-op pool gets ``threads`` if given, else ``torch.get_num_threads()``,
which the server worker (``serve.py threads=``) and ``predict.py threads=`` set before loading; one
inter-op thread (the graph is a chain). ``model=`` must be an ONNX export folder (``<out_dir>/onnx``
or ``<out_dir>/onnx-int8``); anything else is refused in one line that says what to pass instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    import torch

from tunelab.errors import ConfigError

ONNX_FILE = "model.onnx"
EXPORT_HINT = "python export.py <the run's overrides> ckpt_path=... format=onnx [quantize=int8]"


def onnx_file(spec) -> Path:
    """The ``model.onnx`` that ``spec`` names; a ConfigError (one line) saying what to serve if none."""
    if spec.kind != "folder":
        raise ConfigError(f"backend=onnx: model={spec.path!r} is a run directory; export it first "
                          f"({EXPORT_HINT}) and serve model=<out_dir>/onnx or <out_dir>/onnx-int8")
    folder = Path(spec.path)
    if (folder / ONNX_FILE).is_file():
        return folder / ONNX_FILE
    if spec.io == "generate":
        raise ConfigError("backend=onnx: causal LMs are not exported to ONNX; serve them with backend=pytorch")
    near = [str(d) for d in (folder.parent / "onnx-int8", folder.parent / "onnx") if (d / ONNX_FILE).is_file()]
    if near:
        raise ConfigError(f"backend=onnx: {folder} has no {ONNX_FILE}; its ONNX export is at {' and '.join(near)}: "
                          f"serve model={near[0]}")
    raise ConfigError(f"backend=onnx: {folder} has no {ONNX_FILE}; export it with {EXPORT_HINT}")


def _runtime():
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("backend=onnx: onnxruntime is not installed; pip install 'tunelab[onnx]'") from None
    return onnxruntime


def check(spec) -> None:
    """What the main process can check before a worker loads anything."""
    _runtime()
    onnx_file(spec)


class OnnxBackend:
    name = "onnx"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        import torch

        ort = _runtime()
        self.torch = torch
        self.path = str(path)
        self.device = str(device)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        providers = ["CPUExecutionProvider"]
        if self.device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ConfigError(f"backend=onnx: device {self.device} needs onnxruntime-gpu (this onnxruntime has "
                                  f"{', '.join(ort.get_available_providers())}); serve with accelerator=cpu")
            index = int(self.device.split(":", 1)[1]) if ":" in self.device else 0
            providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        self.session = ort.InferenceSession(self.path, options, providers=providers)
        self.threads = options.intra_op_num_threads
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        outputs = [o.name for o in self.session.get_outputs()]
        self.output = "logits" if "logits" in outputs else outputs[0]

    def feeds(self, batch: Mapping[str, "torch.Tensor"]) -> dict:
        import numpy as np

        out = {}
        for name in self.input_names:
            tensor = batch.get(name)
            if tensor is None:
                if name != "token_type_ids":
                    raise KeyError(f"backend=onnx: the batch has no {name!r}, which {self.path} needs")
                tensor = self.torch.zeros_like(batch["input_ids"])
            out[name] = np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.int64)
        return out

    def logits(self, batch: Mapping[str, "torch.Tensor"]):
        (logits,) = self.session.run([self.output], self.feeds(batch))
        return self.torch.from_numpy(logits).float()


def load(spec, device: str = "cpu", threads: int | None = None) -> OnnxBackend:
    return OnnxBackend(onnx_file(spec), device, threads)
