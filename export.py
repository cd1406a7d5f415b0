"""Export a checkpoint as a Hugging Face folder (LoRA merged) and a peft adapter folder.

    python export.py +experiment=lora_ncbi ckpt_path=<run>/checkpoints/epoch03.ckpt out_dir=exports/lora_ncbi
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

import tunelab.config  # noqa: F401  (registers resolvers before composing)
from tunelab.cli import check_experiment_override, run_or_exit

CONF = Path(__file__).resolve().parent / "conf"


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
def main(cfg: DictConfig) -> None:
    from tunelab.export import export

    for kind, path in run_or_exit(export, cfg).items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    check_experiment_override(sys.argv[1:], CONF)
    main()
