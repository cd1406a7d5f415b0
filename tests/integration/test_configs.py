"""Every experiment and data config composes into a complete, resolvable config."""

import pytest
from omegaconf import OmegaConf

from tests.conftest import CONF, EXPERIMENTS, compose
from tunelab import tasks

DATA = sorted(p.stem for p in (CONF / "data").glob("*.yaml") if not p.stem.startswith("_"))
REQUIRED = ["full_ncbi", "full_bc5cdr", "full_cmedqa_ner", "full_fpb", "full_banking77", "full_chnsenticorp"]


def test_required_experiments_exist():
    assert set(REQUIRED) <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_resolves(name, tmp_path):
    cfg = compose([f"+experiment={name}", f"paths.output_dir={tmp_path}"])
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["task_name"] == name
    assert resolved["optimized_metric"] == resolved["data"]["monitor"]
    assert resolved["callbacks"]["model_checkpoint"]["monitor"] == resolved["optimized_metric"]
    assert resolved["logger"]["wandb"]["offline"] is True  # offline by default
    assert resolved["model"]["name_or_path"] or resolved["model"]["from_scratch"]


@pytest.mark.parametrize("name", DATA)
def test_data_config_names_task_monitor_and_hub(name, tmp_path):
    cfg = compose([f"data={name}", f"paths.output_dir={tmp_path}"])
    data = OmegaConf.to_container(cfg.data, resolve=True)
    task = tasks.get(data["task"])  # a registered task
    assert data["monitor"] in {f"val/{m}" for m in task.metric_names}  # a metric the task logs
    source = data.get("source", data)
    assert "hub" in source  # the public copy (or an explicit null, with a comment why)


def test_switching_axes(tmp_path):
    cfg = compose(["+experiment=full_fpb", "logger=csv", "trainer=cpu", "model=tiny", f"paths.output_dir={tmp_path}"])
    assert cfg.data.name == "financial_phrasebank" and "csv" in cfg.logger and cfg.trainer.accelerator == "cpu"
    assert cfg.model.from_scratch.model_type == "bert"
    fpb = compose(["+experiment=full_fpb", "data.source.agreement=AllAgree", f"paths.output_dir={tmp_path}"])
    assert fpb.data.source.files.train.endswith("Sentences_AllAgree.txt")
    assert fpb.data.source.hub.name == "sentences_allagree"
