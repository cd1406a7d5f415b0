"""data.extra_train: feedback.jsonl (or more files like train) folded into the training split only."""

from __future__ import annotations

import json

import pytest

from tests.conftest import compose
from tests.helpers import ner_overrides, write_synthetic_ner
from tunelab import builders
from tunelab.errors import DataError
from tunelab.serving.feedback import FeedbackWriter, to_record


def _dm(folder, tmp_path, *extra):
    cfg = compose(["model=tiny", "logger=csv", f"paths.output_dir={tmp_path}", *ner_overrides(folder), *extra])
    return builders.build_datamodule(cfg, tokenizer=None)


def test_feedback_file_adds_training_records_and_is_recorded(tmp_path):
    folder = tmp_path / "data"
    write_synthetic_ner(folder, n_train=20)
    fb = tmp_path / "serve" / "feedback.jsonl"
    writer = FeedbackWriter(fb, model="m")
    labels = ["O", "B-Disease", "I-Disease"]
    for text in ("the patient had zorblax", "zorblax again"):
        writer.append(to_record("token_classification", labels, {"text": text, "correct": [
            {"start": text.index("zorblax"), "end": text.index("zorblax") + 7, "label": "Disease"}]}),
            {"prediction": {"entities": []}})
    with fb.open("ab") as f:
        f.write(b'{"tokens": ["cut"')  # a write in progress: skipped
    more = tmp_path / "more.tsv"  # the data config's own format works too
    more.write_text("asthma\tB-Disease\nagain\tO\n")

    dm = _dm(folder, tmp_path, f"data.extra_train=[{fb},{more}]", "data.limit=5")
    train = dm.records["train"]
    assert len(train) == 5 + 3  # `limit` does not cut the extra records
    assert train[5] == {"tokens": ["the", "patient", "had", "zorblax"], "tags": ["O", "O", "O", "B-Disease"]}
    assert train[-1] == {"tokens": ["asthma", "again"], "tags": ["B-Disease", "O"]}
    assert len(dm.records["validation"]) == 5 and len(dm.records["test"]) == 5  # train only
    assert [(m["records"], m["path"]) for m in dm.meta["extra_train"]] == [(2, str(fb.resolve())), (1, str(more.resolve()))]
    assert len(dm.meta["extra_train"][0]["fingerprint"]) == 16
    assert "extra_train" not in _dm(folder, tmp_path).meta


def test_bad_extra_files_name_file_and_line(tmp_path):
    folder = tmp_path / "data"
    write_synthetic_ner(folder, n_train=10)
    with pytest.raises(DataError, match="no such file"):
        _dm(folder, tmp_path, "data.extra_train=[nowhere/feedback.jsonl]")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x", "label": "pos"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: a token_classification record needs \['tokens', 'tags'\]"):
        _dm(folder, tmp_path, f"data.extra_train=[{bad}]")
    bad.write_text("{oops\n" + json.dumps({"tokens": ["a"], "tags": ["O"]}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: invalid JSON"):
        _dm(folder, tmp_path, f"data.extra_train=[{bad}]")
