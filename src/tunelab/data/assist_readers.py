"""Readers for the assistant datasets (instruction -> response pairs for the ``sft`` task).

* ``bitext``: Bitext's customer-support CSV (instruction, intent, category, response). The
  ``{{Order Number}}``-style slots in responses are kept verbatim: they are the answer
  templates the assistant should learn to fill in, not noise. ``group`` is the intent, so a
  seeded ``data.split`` is stratified by intent.
* ``medquad``: MedQuAD's XML (one file per focus entity: Document/Focus/QAPairs/QAPair). The
  reader splits itself, by focus entity (case-folded focus text, so two files about one entity
  travel together), so no entity straddles train and test.
"""

from __future__ import annotations

import csv
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from tunelab.errors import ConfigError, DataError

BITEXT_COLUMNS = ("instruction", "intent", "response")


def read_bitext(path: str | Path, text_column: str = "instruction") -> list[dict]:
    """``{"prompt", "response", "group", "intent", "category"}`` per row; ``text_column``: the
    prompt column (instruction)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in dict.fromkeys((text_column, *BITEXT_COLUMNS)) if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: not a Bitext CSV: no column(s) {missing} (header {reader.fieldnames})")
        records = []
        for row in reader:
            line = reader.line_num  # a quoted response spans lines: the file line where the row ends
            # The file has CRLF line breaks inside quoted responses: one newline convention for the model.
            prompt = (row[text_column] or "").replace("\r\n", "\n").strip()
            response = (row["response"] or "").replace("\r\n", "\n").strip()
            if not prompt or not response or not row["intent"]:
                raise DataError(f"{path}:{line}: empty {text_column}, response or intent")
            records.append({"prompt": prompt, "response": response, "group": row["intent"],
                            "intent": row["intent"], "category": row.get("category", "")})
    return records


def _text(node) -> str:
    # Answers are indented inside the XML: collapse each line's indentation, keep line breaks.
    raw = "".join(node.itertext()) if node is not None else ""
    lines = [re.sub(r"\s+", " ", ln).strip() for ln in raw.splitlines()]
    return "\n".join(ln for ln in lines if ln)


def read_medquad_pairs(root: str | Path) -> list[dict]:
    """Every answered pair under ``root`` (its subset folders, files in sorted order)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (MedQuAD's subset folders with XML files)")
    files = sorted(root.glob("*/*.xml"))
    if not files:
        raise DataError(f"{root}: no */*.xml files")
    records = []
    for f in files:
        try:
            doc = ET.parse(f).getroot()
        except ET.ParseError as exc:
            raise DataError(f"{f}: invalid XML: {exc}") from None
        focus = _text(doc.find("Focus")) or f.stem
        for qa in doc.iter("QAPair"):
            q, a = qa.find("Question"), qa.find("Answer")
            question, answer = _text(q), _text(a)
            if not question or not answer:  # subsets 10-12 style: a question without an answer
                continue
            records.append({"prompt": question, "response": answer, "group": focus.lower(),
                            "focus": focus, "qtype": q.get("qtype", ""), "document": doc.get("id", f.stem),
                            "subset": f.parent.name})
    return records


def read_medquad(root: str | Path, fractions: dict | None = None, seed: int = 42) -> dict[str, list[dict]]:
    """Train/validation/test split by focus entity: groups are shuffled with ``seed`` and dealt to
    the splits until each holds its fraction of the *pairs*."""
    fractions = dict(fractions or {"train": 0.8, "validation": 0.1, "test": 0.1})
    if abs(sum(fractions.values()) - 1) > 1e-6:
        raise ConfigError(f"data.source.options.fractions: must sum to 1, got {dict(fractions)}")
    records = read_medquad_pairs(root)
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r["group"], []).append(r)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    names = list(fractions)
    out: dict[str, list[dict]] = {n: [] for n in names}
    total, done, k = len(records), 0, 0
    for name in names:
        target = done + fractions[name] * total
        while k < len(keys) and (name == names[-1] or done + len(groups[keys[k]]) / 2 <= target):
            out[name] += groups[keys[k]]
            done += len(groups[keys[k]])
            k += 1
    return out
