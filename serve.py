"""Serve a model over HTTP with LitServe (installed: ``tunelab-serve``, the same function).

    python serve.py model=<exported folder | run dir | zoo name> port=8000
"""

from pathlib import Path

from tunelab.cli import serve_main

# This checkout's configs (an installed tunelab may ship another copy).
CONF = Path(__file__).resolve().parent / "conf"

if __name__ == "__main__":
    serve_main(CONF)
