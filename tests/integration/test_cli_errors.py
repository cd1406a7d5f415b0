"""Bad input through the real CLI: one line `error: ...` naming the file/line/key, exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, needs_shared
from tests.helpers import write_synthetic_ner

FAST = ["model=tiny", "logger=csv", "debug=fdr"]


def run_cli(tmp_path: Path, *args: str, script: str = "train.py") -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    return subprocess.run(
        [sys.executable, script, *args, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def ner_dir(tmp_path):
    folder = tmp_path / "data" / "ncbi_disease"
    write_synthetic_ner(folder, n_train=20)
    return folder


def _ncbi_args(folder: Path) -> list[str]:
    return ["+experiment=full_ncbi", *FAST, f"paths.data_dir={folder.parent}",
            "data.source.files.train=ncbi_disease/train.tsv", "data.source.files.validation=ncbi_disease/devel.tsv",
            "data.source.files.test=ncbi_disease/test.tsv"]


def test_unknown_experiment_lists_available(tmp_path):
    proc = run_cli(tmp_path, "+experiment=full_nbci")
    line = assert_one_line_error(proc, "experiment=full_nbci", "available:", "full_ncbi")
    assert "full_bc5cdr" in line


def test_missing_data_file(tmp_path):
    proc = run_cli(tmp_path, "+experiment=full_ncbi", *FAST, f"paths.data_dir={tmp_path / 'empty'}")
    assert_one_line_error(proc, "ncbi_disease/train.tsv: no such file", "TUNELAB_DATA_DIR")


def test_malformed_conll_line_names_file_and_line(tmp_path, ner_dir):
    lines = (ner_dir / "devel.tsv").read_text().splitlines()
    lines[2] = "adenomatous B-Disease"  # a space instead of the tab
    (ner_dir / "devel.tsv").write_text("\n".join(lines) + "\n")
    proc = run_cli(tmp_path, *_ncbi_args(ner_dir))
    assert_one_line_error(proc, "devel.tsv:3:", "adenomatous B-Disease")


def test_empty_split(tmp_path, ner_dir):
    (ner_dir / "test.tsv").write_text("\n")
    proc = run_cli(tmp_path, *_ncbi_args(ner_dir))
    assert_one_line_error(proc, "test.tsv", "split 'test' is empty")


@needs_shared
def test_unknown_text_column(tmp_path):
    proc = run_cli(tmp_path, "+experiment=full_banking77", *FAST, "data.source.options.text_column=utterance")
    assert_one_line_error(proc, "train.csv", "no column 'utterance'", "text")


def test_model_path_that_does_not_exist(tmp_path, ner_dir):
    proc = run_cli(tmp_path, *_ncbi_args(ner_dir), "model=minilm", "model.name_or_path=/models/does-not-exist")
    assert_one_line_error(proc, "model.name_or_path", "/models/does-not-exist")


def test_resume_from_missing_checkpoint(tmp_path, ner_dir):
    proc = run_cli(tmp_path, *_ncbi_args(ner_dir), f"ckpt_path={tmp_path}/nope.ckpt")
    assert_one_line_error(proc, "ckpt_path", "nope.ckpt")


# ----------------------------------------------------------------------------- config values
# These go through tunelab.config_checks: check_config at the start of train/evaluate, and
# check_overrides before Hydra composes (docs/errors.md).


def test_negative_learning_rate(tmp_path, ner_dir):
    proc = run_cli(tmp_path, *_ncbi_args(ner_dir), "optim.lr=-1")
    assert_one_line_error(proc, "optim.lr: must be > 0, got -1")


def test_key_not_in_config(tmp_path):
    proc = run_cli(tmp_path, "+experiment=full_ncbi", *FAST, "optim.lrr=1e-3")
    assert_one_line_error(proc, "optim.lrr: no such key", "did you mean optim.lr?", "+optim.lrr")


def test_unknown_method(tmp_path):
    proc = run_cli(tmp_path, "+experiment=full_ncbi", *FAST, "method=lorra")
    assert_one_line_error(proc, "method=lorra: no such config in conf/method", "did you mean method=lora?")


def test_misspelled_tag_in_training_file(tmp_path, ner_dir):
    lines = (ner_dir / "train.tsv").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith("\tB-Disease"))
    lines[at] = lines[at].replace("B-Disease", "B-Disase")
    (ner_dir / "train.tsv").write_text("\n".join(lines) + "\n")
    proc = run_cli(tmp_path, *_ncbi_args(ner_dir))
    assert_one_line_error(proc, f"train.tsv:{at + 1}: entity type 'Disase'", "misspelling of 'Disease'")


def _fake_checkpoint(path: Path, label_names: list[str]) -> Path:
    import torch

    torch.save({"state_dict": {}, "hyper_parameters": {"label_names": label_names}}, path)
    return path


def test_evaluate_a_corrupt_checkpoint(tmp_path, ner_dir):
    ckpt = _fake_checkpoint(tmp_path / "epoch00.ckpt", ["O", "B-Disease", "I-Disease"])
    ckpt.write_bytes(ckpt.read_bytes()[:-100])  # cut short
    proc = run_cli(tmp_path, *_ncbi_args(ner_dir), f"ckpt_path={ckpt}", script="evaluate.py")
    assert_one_line_error(proc, "ckpt_path:", "epoch00.ckpt is not a PyTorch checkpoint")


def test_evaluate_a_checkpoint_of_another_label_set(tmp_path, ner_dir):
    ckpt = _fake_checkpoint(tmp_path / "fpb.ckpt", ["negative", "neutral", "positive"])
    proc = run_cli(tmp_path, *_ncbi_args(ner_dir), f"ckpt_path={ckpt}", script="evaluate.py")
    assert_one_line_error(proc, "ckpt_path: checkpoint labels ['negative', 'neutral', 'positive']", "differ")
