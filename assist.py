"""Answer a question as the customer-service / writing assistant (installed: ``tunelab-assist``).

    python assist.py model=<sft run or hf_model> index=<index.pt> question="How do I cancel my order?"
"""

from pathlib import Path

from tunelab.cli import assist_main

# This checkout's configs (an installed tunelab may ship another copy).
CONF = Path(__file__).resolve().parent / "conf"

if __name__ == "__main__":
    assist_main(CONF)
