"""Generate text from a causal-LM folder (e.g. clm_pubmed_scratch's <run>/hf_model).

    python generate.py model_path=<run>/hf_model prompt="The patient" temperature=0.8 top_k=40 top_p=0.95 max_new_tokens=60
"""

import hydra
from omegaconf import DictConfig

import tunelab.config  # noqa: F401  (registers resolvers before composing)
from tunelab.cli import run_or_exit


@hydra.main(version_base="1.3", config_path="conf", config_name="generate")
def main(cfg: DictConfig) -> None:
    from tunelab.generation import generate
    from tunelab.quiet import quiet

    quiet()
    prompts = list(cfg.prompts) if cfg.prompts else [cfg.prompt]
    for text in run_or_exit(generate, cfg.model_path, prompts, cfg, cfg.seed):
        print(text)


if __name__ == "__main__":
    main()
