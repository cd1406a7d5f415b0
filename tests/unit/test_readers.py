"""Behaviour tests for tunelab.data.readers on small hand-written files (plus one real-data test)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from tunelab.data.readers import (
    fingerprint_files,
    normalize_tag,
    read_conll,
    read_delimited_pairs,
    read_table,
    stratified_split,
)
from tests.conftest import require_shared
from tunelab.errors import ConfigError, DataError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    # newline="" so "\r\n" in the test text reaches the file unchanged.
    with path.open("w", encoding=encoding, newline="") as f:
        f.write(text)
    return path


# --------------------------------------------------------------------------- CoNLL


def test_read_conll_tab(tmp_path):
    f = write(
        tmp_path / "file.tsv",
        "-DOCSTART-\tO\n\n"
        "Identification\tO\nof\tO\nAPC2\tB-Disease \r\n\n\n\n"  # trailing space, CRLF, 3 blanks
        "colon\tI-Disease\ncancer\tI-Disease",  # no final newline
    )
    assert read_conll(f) == [
        {"tokens": ["Identification", "of", "APC2"], "tags": ["O", "O", "B-Disease"]},
        {"tokens": ["colon", "cancer"], "tags": ["I-Disease", "I-Disease"]},
    ]


def test_read_conll_char_level_space_normalises_underscore_tags(tmp_path):
    # The token of line 3 is a space character: it is dropped (documented behaviour).
    f = write(tmp_path / "train.txt", "头 B_body\n痛 I_symptom\n  O\n吗 O\n\n发 B_symptom\n烧 I_symptom\n")
    assert read_conll(f, sep=" ") == [
        {"tokens": ["头", "痛", "吗"], "tags": ["B-body", "I-symptom", "O"]},
        {"tokens": ["发", "烧"], "tags": ["B-symptom", "I-symptom"]},
    ]


def test_normalize_tag():
    assert normalize_tag("B_disease") == "B-disease"
    assert normalize_tag("I_x") == "I-x"
    assert normalize_tag("B-X") == "B-X"
    assert normalize_tag("O") == "O"
    for bad in ["X", "S-PER", "B-", "B_", "o", ""]:
        with pytest.raises(ValueError):
            normalize_tag(bad)


def test_read_conll_malformed_line_names_line(tmp_path):
    f = write(tmp_path / "file.tsv", "a\tO\nb\tO\nbroken line\nc\tO\n")
    with pytest.raises(DataError, match=r"file\.tsv:3: expected 'token'\\t'tag'"):
        read_conll(f)


def test_read_conll_empty_token_is_an_error(tmp_path):
    f = write(tmp_path / "file.tsv", "a\tO\n\tO\n")
    with pytest.raises(DataError, match=r"file\.tsv:2:"):
        read_conll(f)


def test_read_conll_invalid_tag_names_line(tmp_path):
    f = write(tmp_path / "file.tsv", "a\tO\n\nb\tB-X\nc\tE-X\n")
    with pytest.raises(DataError, match=r"file\.tsv:4: invalid tag 'E-X'"):
        read_conll(f)


def test_missing_file_names_path(tmp_path):
    missing = tmp_path / "nope.tsv"
    for call in (
        lambda: read_conll(missing),
        lambda: read_delimited_pairs(missing),
        lambda: read_table(missing, "text", "label"),
        lambda: fingerprint_files([missing]),
    ):
        with pytest.raises(DataError, match="nope.tsv: no such file"):
            call()


# --------------------------------------------------------------------------- sentence@label


def test_read_delimited_pairs_latin1_last_at(tmp_path):
    f = write(
        tmp_path / "Sentences_50Agree.txt",
        "Café sales rose .@positive\r\n\nMail info@example.com for details .@neutral\n",
        encoding="latin-1",
    )
    assert f.read_bytes().count(b"\xe9") == 1  # really latin-1 on disk
    assert read_delimited_pairs(f) == [
        {"text": "Café sales rose .", "label": "positive"},
        {"text": "Mail info@example.com for details .", "label": "neutral"},
    ]


def test_read_delimited_pairs_errors(tmp_path):
    f = write(tmp_path / "fpb.txt", "ok .@neutral\nno delimiter here\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"fpb\.txt:2:"):
        read_delimited_pairs(f)
    f = write(tmp_path / "fpb2.txt", "ok .@neutral\n\nempty label @ \n", encoding="latin-1")
    with pytest.raises(DataError, match=r"fpb2\.txt:3: empty label"):
        read_delimited_pairs(f)


# --------------------------------------------------------------------------- tables


def test_read_table_csv_int_labels_and_empty_text(tmp_path, caplog):
    f = write(tmp_path / "reviews.csv", 'label,review\n1,"good, clean room"\n0,\n0,NA\n1,ok\n')
    with caplog.at_level(logging.WARNING, logger="tunelab.data.readers"):
        records = read_table(f, text_column="review", label_column="label")
    assert records == [
        {"text": "good, clean room", "label": "1"},
        {"text": "NA", "label": "0"},  # "NA" is a review, not a missing value
        {"text": "ok", "label": "1"},
    ]
    assert "dropped 1 row" in caplog.text


def test_read_table_tsv_with_pair(tmp_path):
    f = write(tmp_path / "pairs.tsv", "q\ta\ty\nhow?\tlike this\t1\nwhy?\tbecause\t0\n")
    assert read_table(f, "q", "y", text_pair_column="a") == [
        {"text": "how?", "label": "1", "text_pair": "like this"},
        {"text": "why?", "label": "0", "text_pair": "because"},
    ]


def test_read_table_jsonl_int_labels(tmp_path):
    rows = [{"text": "a", "label": 0}, {"text": None, "label": 1}, {"text": "b", "label": 2}]
    f = write(tmp_path / "data.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert read_table(f, "text", "label") == [
        {"text": "a", "label": "0"},
        {"text": "b", "label": "2"},
    ]


def test_read_table_unknown_column_lists_columns(tmp_path):
    f = write(tmp_path / "banking.csv", "text,category\nhi,card_arrival\n")
    with pytest.raises(DataError, match=r"banking\.csv: no column 'label'; columns are \['text', 'category'\]"):
        read_table(f, "text", "label")


# --------------------------------------------------------------------------- split


def _labelled(counts: dict[str, int]) -> list[dict]:
    return [{"id": f"{lab}{i}", "label": lab} for lab, n in counts.items() for i in range(n)]


FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def test_stratified_split_proportions_and_coverage():
    counts = {"neutral": 287, "positive": 136, "negative": 61, "rare": 3}
    records = _labelled(counts)
    parts = stratified_split(records, FRACTIONS, seed=0)
    assert list(parts) == list(FRACTIONS)
    ids = [r["id"] for part in parts.values() for r in part]
    assert sorted(ids) == sorted(r["id"] for r in records)  # nothing lost or duplicated
    for name, frac in FRACTIONS.items():
        per_class = Counter(r["label"] for r in parts[name])
        for lab, n in counts.items():
            assert abs(per_class[lab] - n * frac) <= 1, (name, lab)


def test_stratified_split_deterministic_per_seed():
    records = _labelled({"a": 50, "b": 30})

    def ids(parts):
        return {k: [r["id"] for r in v] for k, v in parts.items()}

    assert ids(stratified_split(records, FRACTIONS, seed=1)) == ids(
        stratified_split(records, FRACTIONS, seed=1)
    )
    assert ids(stratified_split(records, FRACTIONS, seed=1)) != ids(
        stratified_split(records, FRACTIONS, seed=2)
    )


def test_split_without_labels_and_bad_fractions():
    records = [{"tokens": [str(i)], "tags": ["O"]} for i in range(20)]
    parts = stratified_split(records, {"train": 0.5, "test": 0.5}, seed=3, label_key=None)
    assert len(parts["train"]) == len(parts["test"]) == 10
    assert sorted(r["tokens"][0] for p in parts.values() for r in p) == sorted(str(i) for i in range(20))
    with pytest.raises(ConfigError, match="sum to 1"):
        stratified_split(records, {"train": 0.8, "test": 0.1}, seed=0, label_key=None)
    with pytest.raises(ConfigError, match="label_key=None"):
        stratified_split(records, {"train": 1.0}, seed=0)


# --------------------------------------------------------------------------- fingerprint


def test_fingerprint_files(tmp_path):
    a = write(tmp_path / "a.txt", "hello")
    b = write(tmp_path / "b.txt", "world")
    fp = fingerprint_files([a, b])
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fingerprint_files([str(a), str(b)]) == fp
    assert fingerprint_files([b, a]) != fp
    other = tmp_path / "sub"
    other.mkdir()
    assert fingerprint_files([write(other / "a.txt", "hello"), write(other / "b.txt", "world")]) == fp
    write(b, "world!")
    assert fingerprint_files([a, b]) != fp


# --------------------------------------------------------------------------- real data



@pytest.mark.slow
def test_real_datasets_match_readme_counts():
    root = require_shared()  # skips locally, fails under CI=true
    ncbi = read_conll(root / "ncbi_disease" / "train.tsv")
    assert len(ncbi) == 5424
    assert sum(len(s["tokens"]) for s in ncbi) == 135701
    assert {t for s in ncbi for t in s["tags"]} == {"O", "B-Disease", "I-Disease"}
    cmed = read_conll(root / "cmedqa_ner" / "train.txt", sep=" ")
    assert len(cmed) == 1673
    fpb = read_delimited_pairs(root / "financial_phrasebank" / "Sentences_50Agree.txt")
    assert len(fpb) == 4846
    assert Counter(r["label"] for r in fpb) == {"neutral": 2879, "positive": 1363, "negative": 604}
    banking = read_table(root / "banking77" / "train.csv", "text", "category")
    assert len(banking) == 10003
    assert len({r["label"] for r in banking}) == 77
