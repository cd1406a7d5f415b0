"""A tiny synthetic MovieLens-100K folder (same file formats as GroupLens' u.data / u.item / u.genre).

Users walk a cycle of items with a learnable next-item rule (item i is followed by i + 1), with
some timestamp ties, so a small model can learn something in a few steps.
"""

from __future__ import annotations

import random
from pathlib import Path

from tunelab.recommend.movielens import GENRES

TITLES = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliet", "Kilo",
          "Lima", "Mike", "November", "Oscar", "Papa", "Quebec", "Romeo", "Sierra", "Tango", "Uniform", "Victor",
          "Whiskey", "Xray", "Yankee", "Zulu", "Apple", "Berry", "Cherry", "Date"]


def write_ml100k(folder: Path, users: int = 30, items: int = 30, length: int = 12, seed: int = 0) -> Path:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for u in range(1, users + 1):
        start, t = rng.randrange(items), 880000000 + 1000 * u
        for j in range(length):
            item = (start + j) % items + 1
            t += rng.choice([0, 60])  # ties on purpose: the split must break them by seed
            lines.append(f"{u}\t{item}\t{rng.randint(1, 5)}\t{t}")
    rng.shuffle(lines)
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    rows = []
    for i in range(1, items + 1):
        flags = ["0"] * len(GENRES)
        flags[1 + i % (len(GENRES) - 1)] = "1"
        rows.append(f"{i}|{TITLES[(i - 1) % len(TITLES)]} Story (199{i % 10})|01-Jan-1995||http://x|" + "|".join(flags))
    (folder / "u.item").write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    (folder / "u.genre").write_text("\n".join(f"{g}|{i}" for i, g in enumerate(GENRES)) + "\n")
    return folder


def rec_overrides(data_dir: Path, out: Path | None, *extra: str) -> list[str]:
    """The rec_ml100k data config pointed at the synthetic folder, shrunk for a 2-core CPU."""
    return ["model=tiny", "logger=csv", *([f"paths.output_dir={out}"] if out else []), f"paths.data_dir={data_dir}",
            "data.files.ratings=u.data", "data.files.items=u.item", "data.files.genres=u.genre",
            "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
            "data.batch_size=8", "data.eval_batch_size=16", "data.max_len=10", *extra]
