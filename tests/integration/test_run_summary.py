"""A real `python train.py` run ends with the summary block on stdout (tunelab.summary).

Passes once training.train calls ``summary.print_summary`` at its end (the lead wires it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.helpers import write_synthetic_ner
from tunelab.summary import RULE


def test_train_cli_ends_with_one_summary_block(tmp_path):
    data = tmp_path / "data" / "ncbi_disease"
    write_synthetic_ner(data, n_train=20)
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    proc = subprocess.run(
        [sys.executable, "train.py", "+experiment=full_ncbi", "model=tiny", "logger=wandb", "trainer.max_epochs=1",
         "trainer.enable_progress_bar=false", "callbacks.progress_bar=null", f"paths.data_dir={data.parent}",
         "data.source.files.train=ncbi_disease/train.tsv", "data.source.files.validation=ncbi_disease/devel.tsv",
         "data.source.files.test=ncbi_disease/test.tsv", f"hydra.run.dir={run_dir}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("run summary ")]
    assert len(starts) == 1, proc.stdout[-3000:]
    block = lines[starts[0]:]
    end = block.index(RULE)  # the block closes with its rule, and nothing of the run follows it
    assert all(not line.strip() for line in block[end + 1:]), block
    block = block[:end]
    assert any(line.split()[:1] == ["test/f1"] for line in block), block
    assert f"  run dir:          {run_dir}" in block
    (ckpt_line,) = [line for line in block if line.startswith("  best checkpoint:  ")]
    ckpt = Path(ckpt_line.split(":  ", 1)[1])
    assert ckpt.is_file() and ckpt.parent == run_dir / "checkpoints" and ckpt.name.startswith("epoch")
    (sync_line,) = [line for line in block if "wandb sync " in line]
    sync_dir = Path(sync_line.split("wandb sync ", 1)[1])
    assert sync_dir.parent == run_dir / "wandb" and sync_dir.name.startswith("offline-run-")
    assert list(sync_dir.glob("run-*.wandb"))
