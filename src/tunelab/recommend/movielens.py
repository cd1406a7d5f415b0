"""Read the GroupLens ML-100K files: ``u.data`` (interactions) and ``u.item`` (item text).

Every rating is an interaction, whatever its value (1-5): the task is "what does the user watch
(and rate) next", the usual implicit-feedback reading of MovieLens in sequential recommendation.
An item's text is ``"<title (year)>. Genres: <g1>, <g2>"`` (titles already carry the year).
Files are read in place from the data directory (GroupLens terms: never copy them elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunelab.errors import DataError

# u.genre's names in flag order; used when the folder has no u.genre.
GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")


@dataclass(frozen=True)
class Interaction:
    user: str
    item: str
    time: int
    line: int  # 1-based line in u.data, for messages


def _lines(path: Path, encoding: str) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: no such file (set TUNELAB_DATA_DIR to the datasets folder, e.g. ../shared/datasets)")
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid {encoding}: {exc.reason}") from None
    lines = text.splitlines()
    if not any(ln.strip() for ln in lines):
        raise DataError(f"{path}: empty file")
    return lines


def read_interactions(path: str | Path) -> list[Interaction]:
    """u.data: ``user<TAB>item<TAB>rating<TAB>unix_time`` per line; blank lines are skipped."""
    path = Path(path)
    out = []
    for i, line in enumerate(_lines(path, "utf-8"), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise DataError(f"{path}:{i}: expected 'user<TAB>item<TAB>rating<TAB>unix_time', got {line!r}")
        user, item, _rating, time = (f.strip() for f in fields)
        if not time.lstrip("-").isdigit():
            raise DataError(f"{path}:{i}: timestamp {time!r} is not an integer (unix seconds)")
        out.append(Interaction(user, item, int(time), i))
    return out


def read_genre_names(path: str | Path) -> tuple[str, ...]:
    path = Path(path)
    if not path.is_file():
        return GENRES
    names = [ln.split("|")[0] for ln in _lines(path, "latin-1") if ln.strip()]
    return tuple(names)


def read_items(path: str | Path, genres: tuple[str, ...] = GENRES) -> dict[str, str]:
    """u.item (latin-1, ``|``-separated): item id -> ``"title (year). Genres: ..."``, in file order."""
    path = Path(path)
    items: dict[str, str] = {}
    for i, line in enumerate(_lines(path, "latin-1"), 1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 5 + len(genres):
            raise DataError(f"{path}:{i}: expected {5 + len(genres)} pipe-separated fields "
                            f"(id, title, release, video release, url, {len(genres)} genre flags), got {len(fields)}")
        flags = fields[5:]
        if any(f.strip() not in ("0", "1") for f in flags):
            raise DataError(f"{path}:{i}: genre flags must be 0 or 1, got {'|'.join(flags)!r}")
        item = fields[0].strip()
        if item in items:
            raise DataError(f"{path}:{i}: item id {item!r} appears twice")
        names = [g for g, f in zip(genres, flags) if f.strip() == "1"] or ["unknown"]
        items[item] = f"{fields[1].strip()}. Genres: {', '.join(names)}"
    return items
