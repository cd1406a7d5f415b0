"""Bad data files: one DataError naming the file and line, raised by the readers (or the split
loader), never a traceback from pandas, pyarrow or a tokenizer. docs/errors.md lists the cases.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import needs_shared, SHARED
from tunelab.data import sources
from tunelab.data.readers import read_conll, read_multiple_choice_jsonl, read_pubmedqa, read_table
from tunelab.errors import DataError


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


NER = "".join(f"w{i}\t{'B-Disease' if i % 3 == 0 else 'O'}\n" + ("\n" if i % 5 == 4 else "") for i in range(60))


def one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- encodings


def test_latin1_byte_in_a_utf8_conll_file(tmp_path):
    f = write(tmp_path / "train.tsv", b"fever\tO\ncaf\xe9\tO\n")
    with pytest.raises(DataError, match=r"train\.tsv:2: not valid utf-8: invalid continuation byte") as err:
        read_conll(f)
    one_line(err)


def test_latin1_byte_in_a_utf8_csv_names_the_line(tmp_path):
    # datasets alone says "An error occurred while generating the dataset" and no line.
    f = write(tmp_path / "train.csv", b"text,label\nhello,1\ncaf\xe9 noir,0\n")
    with pytest.raises(DataError, match=r"train\.csv:3: not valid utf-8"):
        read_table(f, "text", "label")


# --------------------------------------------------------------------------- columns


def test_conll_line_with_an_extra_column(tmp_path):
    # The tag column is the last one: "b<TAB>B-Disease<TAB>NN" would read "NN" as the tag, and
    # "b<TAB>NN<TAB>B-Disease" would silently pass; the count against line 1 catches both.
    f = write(tmp_path / "train.tsv", "a\tO\nb\tNN\tB-Disease\nc\tO\n")
    with pytest.raises(DataError, match=r"train\.tsv:2: 3 fields separated by '\\t', but line 1 has 2"):
        read_conll(f)


def test_conll_space_instead_of_tab(tmp_path):
    f = write(tmp_path / "devel.tsv", "a\tO\nadenomatous B-Disease\n")
    with pytest.raises(DataError, match=r"devel\.tsv:2: expected 'token'\\t'tag', got 'adenomatous B-Disease'"):
        read_conll(f)


def test_csv_row_with_an_extra_field(tmp_path):
    f = write(tmp_path / "train.csv", "text,label\nhello,1\nhello, world,0\nok,1\n")
    with pytest.raises(DataError, match=r"train\.csv:3: 3 fields, but the header has 2 \(a delimiter inside an unquoted"):
        read_table(f, "text", "label")


# --------------------------------------------------------------------------- JSON


def test_broken_jsonl_line_in_a_table(tmp_path):
    f = write(tmp_path / "train.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": 2\n{"text": "c", "label": 1}\n')
    with pytest.raises(DataError, match=r"train\.jsonl:2: invalid JSON: Expecting ',' delimiter"):
        read_table(f, "text", "label")


def test_truncated_json_table(tmp_path):
    f = write(tmp_path / "train.json", '[{"text": "a", "label": 1},\n {"text": "b", "la')
    with pytest.raises(DataError, match=r"train\.json:2: invalid JSON: Unterminated string"):
        read_table(f, "text", "label")


def test_json_tables_that_are_fine(tmp_path):
    """An array document and JSON Lines under a .json name both read (no false alarm)."""
    rows = [{"text": "a", "label": 1}, {"text": "b", "label": 0}]
    array = write(tmp_path / "array.json", json.dumps(rows, indent=1))
    lines = write(tmp_path / "lines.json", "".join(json.dumps(r) + "\n" for r in rows))
    expected = [{"text": "a", "label": "1"}, {"text": "b", "label": "0"}]
    assert read_table(array, "text", "label") == read_table(lines, "text", "label") == expected


def test_truncated_pubmedqa_json(tmp_path):
    f = write(tmp_path / "ori_pqal.json", '{"1": {"QUESTION": "q?", "CONTEXTS": ["c."], "final_decision": "yes"},\n'
                                          ' "2": {"QUESTION": "q2?", "CONT')
    truth = write(tmp_path / "test_ground_truth.json", '{"1": "yes"}')
    with pytest.raises(DataError, match=r"ori_pqal\.json:2: invalid JSON: Unterminated string"):
        read_pubmedqa(f, truth)


def test_truncated_last_line_of_a_multiple_choice_file(tmp_path):
    item = {"question": "q?", "options": {"A": "x", "B": "y"}, "answer_idx": "A"}
    f = write(tmp_path / "test.jsonl", json.dumps(item) + "\n" + json.dumps(item)[:-20])
    with pytest.raises(DataError, match=r"test\.jsonl:2: invalid JSON"):
        read_multiple_choice_jsonl(f)


# --------------------------------------------------------------------------- tags


def test_misspelled_entity_type_beside_the_real_one(tmp_path):
    f = write(tmp_path / "train.tsv", NER + "\nbreast\tB-Disase\ncancer\tI-Disease\n")
    with pytest.raises(DataError, match=r"train\.tsv:74: entity type 'Disase' \(1 tag\) looks like a misspelling of "
                                        r"'Disease' \(21 tags\); .*data\.source\.options\.entity_types") as err:
        read_conll(f)
    one_line(err)


def test_entity_type_outside_the_declared_types(tmp_path):
    f = write(tmp_path / "train.tsv", "a\tB-Disease\n\nb\tB-Disase\n")
    with pytest.raises(DataError, match=r"train\.tsv:3: entity type 'Disase' in tag 'B-Disase' is not one of "
                                        r"data\.source\.options\.entity_types \['Disease'\] \(did you mean 'Disease'\?\)"):
        read_conll(f, entity_types=["Disease"])
    assert read_conll(f, entity_types=["Disease", "Disase"])  # declared types are taken as they are


def test_distinct_rare_types_are_not_typos(tmp_path):
    f = write(tmp_path / "train.tsv", NER + "\nx\tB-Chemical\ny\tB-Gene\n")
    assert len(read_conll(f)) > 1


def test_unknown_tag_prefix(tmp_path):
    f = write(tmp_path / "train.tsv", "a\tO\nb\tX-Disease\n")
    with pytest.raises(DataError, match=r"train\.tsv:2: invalid tag 'X-Disease' \(expected O, B-<type> or I-<type>\)"):
        read_conll(f)


def test_tag_seen_in_test_but_never_in_training(tmp_path):
    write(tmp_path / "train.tsv", NER)
    write(tmp_path / "devel.tsv", NER)
    write(tmp_path / "test.tsv", "a\tO\nb\tB-Disase\n")
    src = {"format": "conll", "files": {"train": "train.tsv", "validation": "devel.tsv", "test": "test.tsv"}}
    from tunelab.data.datamodule import TaskDataModule

    dm = TaskDataModule(task="token_classification", name="ncbi_disease", source=src, data_dir=str(tmp_path))
    with pytest.raises(DataError, match=r"test\.tsv: label 'B-Disase' \(record 1 of split 'test'\) never appears in the training split"):
        dm.load()


# --------------------------------------------------------------------------- empty files


def test_empty_csv_and_jsonl(tmp_path):
    with pytest.raises(DataError, match=r"train\.csv: empty file \(expected a header row and data rows\)"):
        read_table(write(tmp_path / "train.csv", ""), "text", "label")
    with pytest.raises(DataError, match=r"train\.jsonl: empty file \(expected JSON records\)"):
        read_table(write(tmp_path / "train.jsonl", "\n"), "text", "label")


def test_csv_with_only_a_header(tmp_path):
    with pytest.raises(DataError, match=r"train\.csv: no data rows \(only a header\?\)"):
        read_table(write(tmp_path / "train.csv", "text,label\n"), "text", "label")


def test_empty_training_file(tmp_path):
    for name in ("devel.tsv", "test.tsv"):
        write(tmp_path / name, NER)
    write(tmp_path / "train.tsv", "")
    src = {"format": "conll", "files": {"train": "train.tsv", "validation": "devel.tsv", "test": "test.tsv"}}
    with pytest.raises(DataError, match=r"train\.tsv: split 'train' is empty"):
        sources.load_splits("token_classification", src, None, tmp_path)


# --------------------------------------------------------------------------- no false alarms on real data


@needs_shared
def test_real_conll_files_pass_the_column_and_typo_checks():
    for rel, sep in [("ncbi_disease/train.tsv", "\t"), ("bc5cdr/train.tsv", "\t"), ("bc5cdr/test.tsv", "\t"),
                     ("cmedqa_ner/train.txt", " "), ("cmedqa_ner/test.txt", " ")]:
        assert read_conll(SHARED / rel, sep=sep), rel
