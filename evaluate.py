"""Evaluate a checkpoint on a split (installed: ``tunelab-evaluate``, the same function).

    python evaluate.py +experiment=full_ncbi ckpt_path=<run>/checkpoints/epoch03.ckpt [split=validation]
"""

from pathlib import Path

from tunelab.cli import evaluate_main

# This checkout's configs (an installed tunelab may ship another copy).
CONF = Path(__file__).resolve().parent / "conf"

if __name__ == "__main__":
    evaluate_main(CONF)
