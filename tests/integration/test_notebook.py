"""notebooks/compare_runs.ipynb runs top to bottom on a fake sweep and on an empty folder."""

from __future__ import annotations

from pathlib import Path

# Hard imports (dev extras), not importorskip: CI must execute the notebook, never skip it.
import nbclient
import nbformat

from tests.unit.test_report import make_fake_runs

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "compare_runs.ipynb"


def _execute(runs_dir: Path, monkeypatch) -> list[dict]:
    """Run the notebook (kernel python3 = this interpreter) with TUNELAB_RUNS_DIR set; all outputs."""
    monkeypatch.setenv("TUNELAB_RUNS_DIR", str(runs_dir))  # the kernel inherits this environment
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def test_saved_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.outputs and c.execution_count is None for c in nb.cells if c.cell_type == "code")


def test_notebook_runs_on_fake_sweep(tmp_path, monkeypatch):
    outputs = _execute(make_fake_runs(tmp_path / "runs"), monkeypatch)
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # learning curves + lr + r
    markdown = "\n".join(o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {}))
    assert "| 3 |" in markdown and "failed" in markdown  # the runs table
    assert "-abc123" in markdown  # the W&B table


def test_notebook_without_runs(tmp_path, monkeypatch):
    outputs = _execute(tmp_path / "empty", monkeypatch)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "No runs in" in text and "No W&B offline runs" in text
