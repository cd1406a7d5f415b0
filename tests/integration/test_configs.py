"""Every experiment and data config composes, resolves and builds what a run builds.

No test here restates a YAML value: each one checks what the config does (where a run lands,
that the data module it names can be built, which file a data option makes the run read).
"""

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.conftest import CONF, EXPERIMENTS, compose

DATA = sorted(p.stem for p in (CONF / "data").glob("*.yaml") if not p.stem.startswith("_"))


def _compose_with_hydra(overrides: list[str]):
    import tunelab.config  # noqa: F401
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return hydra_compose(config_name="train", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_resolves_and_its_runs_land_in_its_own_folder(name, tmp_path):
    # A broken interpolation anywhere outside hydra.* (runtime-only there) fails here.
    OmegaConf.to_container(compose([f"+experiment={name}", f"paths.output_dir={tmp_path}"]), resolve=True)
    cfg = _compose_with_hydra([f"+experiment={name}", f"paths.output_dir={tmp_path}"])
    # Runs land in logs/<experiment>/runs/<time>: two experiments never share a folder, and the
    # experiments/*/collect.py scripts find a study's runs by that name.
    assert str(OmegaConf.select(cfg, "hydra.run.dir")).startswith(f"logs/{name}/runs/")


@pytest.mark.parametrize("name", DATA)
def test_data_config_builds_its_datamodule(name, tmp_path):
    """The `_target_` accepts every key of the data config and knows its task (no data is read)."""
    cfg = compose([f"data={name}", "model=tiny", f"paths.output_dir={tmp_path}", f"paths.data_dir={tmp_path}"])
    dm = instantiate(cfg.data, tokenizer=None)
    assert dm.name == cfg.data.name


def test_default_wandb_logger_is_offline(tmp_path, monkeypatch):
    """Without WANDB_MODE a default run still logs offline: no account, no network."""
    from tunelab import builders

    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = compose(["+experiment=full_ncbi", f"paths.output_dir={tmp_path}"])
    (wandb_logger,) = [lg for lg in builders.build_loggers(cfg) if type(lg).__name__ == "WandbLogger"]
    assert wandb_logger._offline is True and wandb_logger._experiment is None  # nothing started yet


def test_agreement_option_selects_the_file_that_is_read(tmp_path):
    """`data.source.agreement=AllAgree` makes Financial PhraseBank read Sentences_AllAgree.txt."""
    folder = tmp_path / "financial_phrasebank"
    folder.mkdir()
    lines = [f"sentence {i} .@{label}" for i, label in enumerate(["positive", "negative", "neutral"] * 10)]
    (folder / "Sentences_AllAgree.txt").write_text("\n".join(lines) + "\n", encoding="latin-1")
    cfg = compose(["+experiment=full_fpb", "data.source.agreement=AllAgree", "model=tiny",
                   f"paths.data_dir={tmp_path}", f"paths.output_dir={tmp_path}"])
    dm = instantiate(cfg.data, tokenizer=None)
    dm.load()
    assert [p.rsplit("/", 1)[1] for p in dm.meta["files"].values()] == ["Sentences_AllAgree.txt"]
    assert sum(dm.meta["sizes"].values()) == 30
