"""Predict a file, resumably, with the server's predictor (installed: ``tunelab-predict``).

    python predict.py model=<exported folder | run dir | zoo name> input=texts.txt output=preds.jsonl
"""

from pathlib import Path

from tunelab.cli import predict_main

# This checkout's configs (an installed tunelab may ship another copy).
CONF = Path(__file__).resolve().parent / "conf"

if __name__ == "__main__":
    predict_main(CONF)
