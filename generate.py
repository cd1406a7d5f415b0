"""Generate text from a causal-LM folder (e.g. clm_pubmed_scratch's <run>/hf_model)
(installed: ``tunelab-generate``, the same function).

    python generate.py model_path=<run>/hf_model prompt="The patient" temperature=0.8 top_k=40 top_p=0.95 max_new_tokens=60
"""

from pathlib import Path

from tunelab.cli import generate_main

# This checkout's configs (an installed tunelab may ship another copy).
CONF = Path(__file__).resolve().parent / "conf"

if __name__ == "__main__":
    generate_main(CONF)
