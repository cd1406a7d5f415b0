"""ONNX export (``export.py format=onnx [quantize=int8]``) and the ``onnx`` serving backend, on tiny
random BERTs: fp32 logits equal PyTorch's within 1e-4; int8 predictions agree with fp32 on most tokens;
unsupported cases are refused in one line."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from tests.serving_helpers import NER_LABELS, save_tiny_head, tokenizer
from tunelab.errors import ConfigError
from tunelab.export_onnx import check, export_folder
from tunelab.serving import backend
from tunelab.serving.loading import describe
from tunelab.serving.predictor import Predictor

FP32_TOL = 1e-4
# int8 (dynamic, per-tensor weights): at least this share of token decisions equal fp32's, and a
# decision may flip only where fp32's top-2 logit margin is below INT8_MARGIN (a near tie).
INT8_AGREE = 0.97
INT8_MARGIN = 0.05
INTENTS = [f"intent_{i}" for i in range(7)]
WORDS = ("the patient had breast cancer and was treated with chemotherapy for several months ; "
         "diabetes asthma colon tumour 乳腺癌 😀 pay card transfer refund").split()


def _texts(n: int = 48, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(1, 45))) for _ in range(n)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """task -> {"model"|"onnx"|"onnx-int8": ServeSpec} for a tiny NER and a tiny intent classifier."""
    out = {}
    for task, labels in (("token_classification", NER_LABELS), ("sequence_classification", INTENTS)):
        root = tmp_path_factory.mktemp(task)
        save_tiny_head(root / "model", task, labels)
        written = export_folder(root / "model", root, quantize="int8")
        assert set(written) == {"onnx", "onnx-int8"}
        out[task] = {name: describe(str(root / name)) for name in ("model", "onnx", "onnx-int8")}
    return out


def _batch(pred: Predictor, task: str, texts: list[str]):
    if task == "token_classification":
        records = [{"tokens": t.split(), "tags": ["O"] * len(t.split())} for t in texts]
    else:
        records = [{"text": t, "label": pred.labels[0]} for t in texts]
    return pred.collate(pred.encode(records))


def _logits(specs, task):
    backends = {"pytorch": backend.load("pytorch", specs["model"]), "fp32": backend.load("onnx", specs["onnx"]),
                "int8": backend.load("onnx", specs["onnx-int8"])}
    pred = Predictor.from_spec(specs["model"], backends["pytorch"], tokenizer())
    batch = _batch(pred, task, _texts())
    assert batch["input_ids"].shape[0] == 48 and (batch["attention_mask"] == 0).any()  # padded rows
    logits = {name: b.logits(batch) for name, b in backends.items()}
    if task == "token_classification":  # real tokens only: padding positions are never decoded
        keep = batch["attention_mask"].bool()
        logits = {name: x[keep] for name, x in logits.items()}
    return logits


@pytest.mark.parametrize("task", ["token_classification", "sequence_classification"])
def test_fp32_logits_equal_pytorch_and_int8_agrees(exported, task):
    logits = _logits(exported[task], task)
    ref = logits["pytorch"]
    assert logits["fp32"].dtype == torch.float32 and logits["fp32"].shape == ref.shape
    assert (logits["fp32"] - ref).abs().max().item() < FP32_TOL
    int8 = logits["int8"]
    agree = int8.argmax(-1) == ref.argmax(-1)
    assert agree.float().mean().item() >= INT8_AGREE
    top2 = ref.topk(2, dim=-1).values
    assert ((top2[:, 0] - top2[:, 1])[~agree] < INT8_MARGIN).all()


def test_served_answers_equal_pytorch(exported):
    """The Predictor's decoding is unchanged: fp32 ONNX gives PyTorch's entities and labels."""
    texts = ["Breast cancer and diabetes.", "", "😀 🎉", "乳腺癌患者", "the patient had colon tumour " * 200]
    for task in ("token_classification", "sequence_classification"):
        specs = exported[task]
        answers = {}
        for name, spec, kind in (("pytorch", specs["model"], "pytorch"), ("onnx", specs["onnx"], "onnx")):
            pred = Predictor.from_spec(spec, backend.load(kind, spec), batch_size=2)
            answers[name] = pred.predict([{"text": t} for t in texts])
        if task == "token_classification":
            strip = [[{k: v for k, v in e.items() if k != "score"} for e in a["entities"]] for a in answers["pytorch"]]
            assert strip == [[{k: v for k, v in e.items() if k != "score"} for e in a["entities"]] for a in answers["onnx"]]
            assert [a["truncated"] for a in answers["onnx"]] == [False, False, False, False, True]
        else:
            assert [a["label"] for a in answers["pytorch"]] == [a["label"] for a in answers["onnx"]]
            for a, b in zip(answers["pytorch"], answers["onnx"]):
                assert max(abs(a["probabilities"][k] - b["probabilities"][k]) for k in INTENTS) < FP32_TOL


def test_batch_composition(exported):
    """fp32 ONNX answers a text the same alone or in a batch; int8 (activation scales per batch) nearly."""
    specs = exported["token_classification"]
    texts = _texts(16, seed=5)
    for name, tol in (("onnx", FP32_TOL), ("onnx-int8", INT8_MARGIN)):
        pred = Predictor.from_spec(specs[name], backend.load("onnx", specs[name]))
        batch = _batch(pred, "token_classification", texts)
        together = pred.backend.logits(batch)
        for i in (0, 7, 15):
            alone = pred.backend.logits(_batch(pred, "token_classification", texts[i:i + 1]))
            n = int(batch["attention_mask"][i].sum())
            assert (alone[0, :n] - together[i, :n]).abs().max().item() < tol


def test_export_folder_is_servable_and_says_what_it_is(exported):
    spec = exported["token_classification"]["onnx-int8"]
    assert spec.task == "token_classification" and spec.labels == NER_LABELS
    assert spec.max_length == exported["token_classification"]["model"].max_length
    folder = spec.path
    meta = json.loads(Path(folder, "tunelab_export.json").read_text())
    assert meta["format"] == "onnx" and meta["quantize"] == "int8" and "dynamo=False" in meta["exporter"]
    assert meta["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    import onnx

    graph = onnx.load(f"{folder}/model.onnx").graph
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert dims["input_ids"] == ["batch", "sequence"]
    assert any(n.op_type == "MatMulInteger" for n in graph.node)  # really quantised
    fp32 = exported["token_classification"]["onnx"].path
    import os

    assert os.path.getsize(f"{folder}/model.onnx") < os.path.getsize(f"{fp32}/model.onnx")


def test_optional_ort_fusions_keep_the_logits(tmp_path):
    """onnx.optimize=true (ONNX Runtime's Attention/LayerNorm/GELU fusions): same logits, still quantisable."""
    save_tiny_head(tmp_path / "model", "token_classification", NER_LABELS)
    export_folder(tmp_path / "model", tmp_path, quantize="int8", optimize_graph=True)
    specs = {name: describe(str(tmp_path / name)) for name in ("model", "onnx", "onnx-int8")}
    assert json.loads((tmp_path / "onnx" / "tunelab_export.json").read_text())["optimized"] is True
    import onnx

    assert any(n.op_type == "Attention" for n in onnx.load(str(tmp_path / "onnx" / "model.onnx")).graph.node)
    logits = _logits(specs, "token_classification")
    assert (logits["fp32"] - logits["pytorch"]).abs().max().item() < FP32_TOL
    assert (logits["int8"].argmax(-1) == logits["pytorch"].argmax(-1)).float().mean().item() >= INT8_AGREE


def test_threads_come_from_torch_and_the_config(exported):
    spec = exported["sequence_classification"]["onnx"]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # what serve.py threads=2 / predict.py threads=2 do before loading
        assert backend.load("onnx", spec).session.get_session_options().intra_op_num_threads == 2
    finally:
        torch.set_num_threads(before)
    from tunelab.serving.onnx_backend import load

    assert load(spec, threads=1).threads == 1


def test_pairs_and_multiple_choice(tmp_path):
    for task, labels, items in (
        ("sentence_pair_classification", ["0", "1"], [{"text": "how do I pay", "text_pair": "payment methods"},
                                                      {"text": "a", "text_pair": "b c d e f"}]),
        ("multiple_choice", list("ABCD"), [{"question": "which?", "options": ["x", "y", "z"]},
                                          {"question": "q " * 30, "options": ["a b c", "d", "e f"]}]),
    ):
        save_tiny_head(tmp_path / task / "model", task, labels)
        export_folder(tmp_path / task / "model", tmp_path / task)
        pt_spec, ox_spec = describe(str(tmp_path / task / "model")), describe(str(tmp_path / task / "onnx"))
        pt = Predictor.from_spec(pt_spec, backend.load("pytorch", pt_spec))
        ox = Predictor.from_spec(ox_spec, backend.load("onnx", ox_spec))
        for a, b in zip(pt.predict(items), ox.predict(items)):
            assert a.keys() == b.keys()
            pa, pb = a["probabilities"], b["probabilities"]  # {label: p}, or a list per option
            pa, pb = (list(pa.values()), list(pb.values())) if isinstance(pa, dict) else (pa, pb)
            assert max(abs(x - y) for x, y in zip(pa, pb)) < FP32_TOL


def test_predict_file_with_the_onnx_backend(exported, tmp_path):
    from tunelab.serving.batch import predict_file

    src = tmp_path / "in.txt"
    src.write_text("\n".join(_texts(12, seed=3)) + "\n")
    out = {}
    for name, model, kind in (("pt", "model", "pytorch"), ("ox", "onnx", "onnx")):
        path = exported["sequence_classification"][model].path
        predict_file({"model_path": path, "input": str(src), "output": str(tmp_path / f"{name}.jsonl"),
                      "backend": kind, "progress": False, "batch_size": 4})
        out[name] = [json.loads(line)["label"] for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
    assert out["pt"] == out["ox"] and len(out["ox"]) == 12


# -- refusals, each one line ------------------------------------------------------------------
@pytest.mark.parametrize("task, method, quantize, fmt, says", [
    ("token_classification", "prefix_tuning", None, "onnx", "virtual tokens"),
    ("sequence_classification", "prompt_tuning", "int8", "onnx", "virtual tokens"),
    ("token_classification", "adapter", None, "onnx", "bottleneck adapters"),
    ("clm", "lora", None, "onnx", "causal LMs are not exported"),
    ("mlm", "full", None, "onnx", "task 'mlm' is not exported"),
    ("token_classification", "full", "int4", "onnx", "quantize: 'int4'"),
    ("token_classification", "full", "int8", "hf", "needs format=onnx"),
    ("token_classification", "full", None, "tflite", "format: 'tflite'"),
])
def test_unsupported_exports_are_refused(task, method, quantize, fmt, says):
    with pytest.raises(ConfigError, match=says) as err:
        check(task, method, quantize, fmt)
    assert "\n" not in str(err.value)


def test_backends_refuse_folders_they_cannot_serve(exported, tmp_path):
    specs = exported["token_classification"]
    with pytest.raises(ConfigError, match="its ONNX export is at .*onnx-int8"):
        backend.check("onnx", specs["model"])  # the HF folder beside an ONNX export: points at it
    with pytest.raises(ConfigError, match="serve it with backend=onnx"):
        backend.check("pytorch", specs["onnx"])
    with pytest.raises(ConfigError, match="serve it with backend=onnx"):
        backend.load("pytorch", specs["onnx"])
    lone = describe(str(save_tiny_head(tmp_path / "lone", "sequence_classification", INTENTS)))
    with pytest.raises(ConfigError, match="format=onnx"):
        backend.load("onnx", lone)
    run = type(lone)("run", str(tmp_path), lone.task, lone.labels, 64)
    with pytest.raises(ConfigError, match="is a run directory; export it first"):
        backend.check("onnx", run)
    backend.check("onnx", specs["onnx"])
    backend.check("pytorch", specs["model"])
    assert "onnx" in backend.names()


# -- export.py itself (Hydra config -> checkpoint -> folders) -------------------------------------
def _fake_checkpoint(cfg, path, lora_noise: bool = False):
    """A checkpoint of the configured module as built (no training: export only reloads it)."""
    from tunelab import builders

    tok = builders.build_tokenizer_from(cfg)
    dm = builders.build_datamodule(cfg, tok)
    module = builders.build_module(cfg, dm, tok)
    if lora_noise:  # LoRA B starts at zero: make the adapter change the output, so merging matters
        torch.manual_seed(1)
        with torch.no_grad():
            for n, p in module.model.named_parameters():
                if "lora_B" in n:
                    p.normal_(std=0.5)
    torch.save({"state_dict": module.state_dict()}, path)
    return module, dm, tok


@pytest.mark.parametrize("method", ["full", "lora"])
def test_export_py_format_onnx(method, tiny_cfg, tiny_folder, synthetic, tmp_path):
    from tests.helpers import ner_overrides
    from tunelab.export import export

    over = [*ner_overrides(synthetic), f"method={method}"]
    if method == "lora":
        over += [f"model.name_or_path={tiny_folder}", "model.tokenizer=null", "model.from_scratch=null"]
    ckpt = tmp_path / "fake.ckpt"
    module, dm, tok = _fake_checkpoint(tiny_cfg(*over), ckpt, lora_noise=method == "lora")
    cfg = tiny_cfg(*over, f"ckpt_path={ckpt}", f"out_dir={tmp_path / 'export'}", "format=onnx", "quantize=int8",
                   config_name="export")
    written = export(cfg)
    assert set(written) >= {"model", "onnx", "onnx-int8"}
    spec = describe(written["onnx"])
    assert spec.labels == dm.label_names and json.loads(
        (tmp_path / "export" / "onnx" / "tunelab_export.json").read_text())["method"] == method
    dm.setup("test")
    from tunelab.data.collate import PadCollator

    batch = PadCollator(tok.pad_token_id)(dm.encoded["test"][:16])
    module.model.eval()
    with torch.no_grad():  # the module as trained (a LoRA model unmerged) vs the merged ONNX graph
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        ref = module.model(**inputs).logits
        if method == "lora":  # the adapter changes the output: the ONNX graph has it merged in
            with module.model.disable_adapter():
                assert (module.model(**inputs).logits - ref).abs().max().item() > 1e-2
    got = backend.load("onnx", spec).logits(batch)
    keep = batch["attention_mask"].bool()
    assert (got[keep] - ref[keep]).abs().max().item() < FP32_TOL


def test_export_py_refuses_prefix_tuning_before_loading(tiny_cfg, tiny_folder, synthetic, tmp_path):
    from tests.helpers import ner_overrides
    from tunelab.export import export

    cfg = tiny_cfg(*ner_overrides(synthetic), "method=prefix_tuning", f"model.name_or_path={tiny_folder}",
                   "model.tokenizer=null", "model.from_scratch=null", f"ckpt_path={tmp_path / 'none.ckpt'}",
                   f"out_dir={tmp_path}", "format=onnx", config_name="export")
    with pytest.raises(ConfigError, match="prefix_tuning keeps virtual tokens"):
        export(cfg)  # refused before the (missing) checkpoint is read


def test_the_server_refuses_a_wrong_backend_before_any_worker_starts(exported, tmp_path):
    """build_server checks the backend against the folder (and adapters against the backend) in
    the main process: a wrong combination is one line, not a worker that dies while loading."""
    from tunelab.serving.app import build_server

    specs = exported["token_classification"]
    base = {"limits": {}, "feedback": str(tmp_path / "feedback.jsonl")}
    with pytest.raises(ConfigError, match="its ONNX export is at"):
        build_server({**base, "backend": "onnx"}, specs["model"])
    with pytest.raises(ConfigError, match="^adapters: per-request LoRA adapters run on backend=pytorch, not onnx"):
        build_server({**base, "backend": "onnx", "adapters": {"a": str(tmp_path)}}, specs["onnx"])
