"""Shared by bench_onnx.py and bench_server.py: the three folders to compare, and the test records.

``exports(model, export_dir)`` -> ``{"model": HF folder, "onnx": fp32 ONNX folder, "onnx-int8": ...}``:

* an export root (``export.py``'s ``<out_dir>``: ``model/`` and, after ``format=onnx quantize=int8``,
  ``onnx/`` and ``onnx-int8/``) is used as it is; missing ONNX folders are exported next to ``model/``;
* a run directory is exported first, as ``export.py`` would (LoRA merged) into ``export_dir``
  (default ``<run>/export``), then reused by later calls;
* a Hugging Face folder with ``tunelab_export.json`` likewise gets its ONNX folders beside it.

``test_records(spec, data, split)``: the split's records through the project's own datamodule, from
the run's recorded data config (or ``conf/data/<data>.yaml``), checked against the model's labels.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _has_onnx(folder: Path) -> bool:
    return (folder / "model.onnx").is_file()


def exports(model: str, export_dir: str | None = None, log=print) -> dict[str, str]:
    from tunelab.export_onnx import FOLDERS, export_folder
    from tunelab.serving import loading

    path = Path(model).expanduser()
    if path.is_dir() and _has_onnx(path):
        raise SystemExit(f"--model {model}: an ONNX folder; pass the export root that holds model/ beside it")
    spec = loading.describe(str(path))
    if spec.kind == "run":
        root = Path(export_dir) if export_dir else path / "export"
        hf = root / "model"
        if not (hf / "tunelab_export.json").is_file():
            log(f"exporting run {path} -> {hf} (merged, as export.py does)")
            tokenizer = loading.load_tokenizer(spec)
            net = loading.load_model(spec)
            hf.mkdir(parents=True, exist_ok=True)
            net.save_pretrained(str(hf))
            tokenizer.save_pretrained(str(hf))
            method = (spec.config or {}).get("method", {}).get("name")
            (hf / "tunelab_export.json").write_text(json.dumps(
                {"ckpt_path": spec.checkpoint, "method": method, "task": spec.task, "labels": spec.labels}, indent=2))
    else:
        hf = Path(spec.path)
        root = Path(export_dir) if export_dir else hf.parent
    out = {"model": str(hf)}
    if not (_has_onnx(root / FOLDERS[None]) and _has_onnx(root / FOLDERS["int8"])):
        log(f"exporting {hf} -> {root}/onnx, {root}/onnx-int8 (export.py format=onnx quantize=int8)")
        export_folder(hf, root, quantize="int8")
    out["onnx"], out["onnx-int8"] = str(root / FOLDERS[None]), str(root / FOLDERS["int8"])
    return out


def data_module(spec, data: str | None, data_dir: str | None, tokenizer):
    """The project's datamodule for ``spec``'s run (or ``conf/data/<data>.yaml``), loaded."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = None
    run = spec.info.get("run_dir")
    if data is None and run and (Path(run) / "run_info.json").is_file():
        config = json.loads((Path(run) / "run_info.json").read_text()).get("config") or {}
        if config.get("data"):
            cfg = OmegaConf.create(config["data"])
    if cfg is None:
        if data is None:
            raise SystemExit("--data: the model has no training run beside it; name the data config "
                             "(e.g. --data ncbi_disease or --data banking77)")
        from hydra import compose, initialize_config_dir

        import tunelab.config  # noqa: F401  (registers the resolvers the configs use)

        with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
            full = compose(config_name="train", overrides=[f"data={data}"])
        cfg = full.data
    if data_dir:
        cfg.data_dir = data_dir
    cfg.limit = None
    dm = instantiate(cfg, tokenizer=tokenizer)
    dm.load()
    if list(dm.label_names) != list(spec.labels):
        raise SystemExit(f"data {dm.name}: labels {dm.label_names[:5]}... differ from the model's {spec.labels[:5]}...")
    return dm


def item_text(record: dict) -> dict:
    """A request item of a data record (what a client would send for it)."""
    if "tokens" in record:
        return {"text": " ".join(record["tokens"])}
    if "question" in record:
        return {"question": record["question"], "options": record["options"]}
    item = {"text": record["text"]}
    if record.get("text_pair") is not None:
        item["text_pair"] = record["text_pair"]
    return item


def commit() -> str:
    from tunelab.run_info import git_commit

    return git_commit(ROOT)


def versions() -> str:
    import importlib.metadata as md

    names = ("torch", "transformers", "onnxruntime", "onnx", "litserve", "fastapi", "uvicorn", "httpx")
    found = []
    for n in names:
        try:
            found.append(f"{n} {md.version(n)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(found)


def command_line() -> str:
    return "python " + " ".join(subprocess.list2cmdline([a]) for a in sys.argv)
