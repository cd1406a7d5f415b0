"""The end-of-run summary block: what it shows, and that it is one block written at once."""

from __future__ import annotations

import io

from tunelab.summary import RULE, format_summary, offline_wandb_dir, print_summary

METRICS = {"val/f1": 0.81, "test/f1": 0.8321, "test/precision": 0.8, "test/recall": 0.866666, "test/robust_typo_f1": 0.7}


def test_block_shows_test_metrics_run_dir_checkpoint_and_sync_command():
    text = format_summary(METRICS, "logs/full_ncbi/runs/2026-12-04_10-00-00",
                          "logs/full_ncbi/runs/2026-12-04_10-00-00/checkpoints/epoch03.ckpt",
                          "logs/full_ncbi/runs/2026-12-04_10-00-00/wandb/offline-run-20261204_100000-abc123")
    lines = text.splitlines()
    assert lines[0].startswith("run summary ") and lines[-1] == RULE
    assert "  test/f1              0.8321" in lines
    assert "  test/recall          0.8667" in lines
    assert any(line.strip().startswith("test/robust_typo_f1") for line in lines)
    assert not any("val/f1" in line for line in lines)  # the test split of the best checkpoint only
    assert "  run dir:          logs/full_ncbi/runs/2026-12-04_10-00-00" in lines
    assert "  best checkpoint:  logs/full_ncbi/runs/2026-12-04_10-00-00/checkpoints/epoch03.ckpt" in lines
    assert ("  W&B offline run:  wandb sync "
            "logs/full_ncbi/runs/2026-12-04_10-00-00/wandb/offline-run-20261204_100000-abc123") in lines


def test_block_without_checkpoint_wandb_or_test_metrics():
    text = format_summary({"val/acc": 0.5}, "/tmp/run dir", None, None)
    assert "no test metrics" in text
    assert "best checkpoint:  none" in text
    assert "wandb sync" not in text
    # A path with a space is quoted so the command can be pasted as is.
    assert "run dir:          /tmp/run dir" in text
    assert "wandb sync '/tmp/x y'" in format_summary({}, "r", None, "/tmp/x y")


def test_print_summary_is_one_write_ending_in_a_newline():
    class Recorder(io.StringIO):
        writes = 0

        def write(self, s):
            Recorder.writes += 1
            return super().write(s)

    out = Recorder()
    text = print_summary(METRICS, "run", "run/checkpoints/epoch00.ckpt", None, file=out)
    assert Recorder.writes == 1 and out.getvalue() == text + "\n"
    assert out.getvalue().count(RULE) == 1 and out.getvalue().count("run summary") == 1


def test_offline_wandb_dir_from_a_lightning_logger(tmp_path, monkeypatch):
    import wandb
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    monkeypatch.setenv("WANDB_SILENT", "true")
    lg = WandbLogger(project="tunelab-test", save_dir=str(tmp_path), offline=True)
    csv = CSVLogger(str(tmp_path), name="csv")
    assert offline_wandb_dir([csv, lg]) is None  # no run started yet: asking must not start one
    assert lg._experiment is None
    try:
        run = lg.experiment
        got = offline_wandb_dir([csv, lg])
        assert got is not None and got == str(run.settings.sync_dir)
        assert got.startswith(str(tmp_path / "wandb" / "offline-run-"))
        assert list((tmp_path / "wandb").glob("offline-run-*")) == [tmp_path / "wandb" / got.rsplit("/", 1)[1]]
    finally:
        wandb.finish()
    assert offline_wandb_dir([csv]) is None
