"""Export a checkpoint as a Hugging Face folder (LoRA merged) and a peft adapter folder
(installed: ``tunelab-export``, the same function).

    python export.py +experiment=lora_ncbi ckpt_path=<run>/checkpoints/epoch03.ckpt out_dir=exports/lora_ncbi
"""

from pathlib import Path

from tunelab.cli import export_main

# This checkout's configs (an installed tunelab may ship another copy).
CONF = Path(__file__).resolve().parent / "conf"

if __name__ == "__main__":
    export_main(CONF)
