"""predict.py's core: streamed, windowed, resumable file prediction with the server's predictor."""

from __future__ import annotations

import json

import pytest

from tests.serving_helpers import NER_LABELS, save_tiny_head, tokenizer
from tunelab.errors import ConfigError, DataError
from tunelab.serving import backend
from tunelab.serving.batch import predict_file, resume_point
from tunelab.serving.loading import describe
from tunelab.serving.predictor import Predictor

TEXTS = ["Breast cancer and diabetes.", "", "😀 asthma", "乳腺癌", "colon tumour " * 5, "no sign", "x"]


@pytest.fixture(scope="module")
def ner(tmp_path_factory):
    spec = describe(str(save_tiny_head(tmp_path_factory.mktemp("ner"))))
    return Predictor.from_spec(spec, backend.load("pytorch", spec), tokenizer(), batch_size=3)


def run(tmp_path, predictor, src, out="out.jsonl", **cfg):
    return predict_file({"input": str(src), "output": str(tmp_path / out), "window": 3, "progress": False, **cfg},
                        predictor=predictor)


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_txt_one_answer_per_line_equal_to_the_predictor(tmp_path, ner):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n")
    assert run(tmp_path, ner, src) == {"output": str(tmp_path / "out.jsonl"), "written": 7, "skipped": 0}
    lines = read(tmp_path / "out.jsonl")
    assert [line.pop("line") for line in lines] == list(range(1, 8))
    direct = ner.predict([{"text": t} for t in TEXTS])  # one call, other batches: same answers
    for got, want in zip(lines, direct):
        assert [(e["start"], e["end"], e["label"]) for e in got["entities"]] == \
               [(e["start"], e["end"], e["label"]) for e in want["entities"]]
        assert [e["score"] for e in got["entities"]] == pytest.approx([e["score"] for e in want["entities"]], abs=1e-4)


def test_jsonl_and_csv_inputs(tmp_path, ner):
    src = tmp_path / "in.jsonl"
    src.write_text('{"tokens": ["breast", "cancer"], "id": "a1"}\n\n{"text": "asthma", "tags": ["x"]}\n')
    run(tmp_path, ner, src)
    first, second = read(tmp_path / "out.jsonl")
    assert first["id"] == "a1" and first["line"] == 1 and len(first["tags"]) == 2
    assert second["line"] == 3 and "tags" not in second
    csv = tmp_path / "in.csv"
    csv.write_text('note,text\n1,"breast, cancer"\n2,\n')
    run(tmp_path, ner, csv, out="csv.jsonl")
    assert [line["line"] for line in read(tmp_path / "csv.jsonl")] == [2, 3]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"question": "q"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: a token_classification input needs"):
        run(tmp_path, ner, bad, out="bad_out.jsonl")
    xml = tmp_path / "in.xml"
    xml.write_text("<a/>")
    with pytest.raises(ConfigError, match="unsupported format"):
        run(tmp_path, ner, xml, out="xml.jsonl")


def test_resume_after_a_kill_mid_write(tmp_path, ner):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS * 3))  # no newline at the end: still 21 lines
    run(tmp_path, ner, src, out="full.jsonl")
    full = (tmp_path / "full.jsonl").read_bytes()
    assert full.count(b"\n") == 21
    lines = full.splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(lines[:8]) + lines[8][:17])  # a kill in the middle of line 9
    assert resume_point(cut)[0] == 8 and cut.read_bytes() == b"".join(lines[:8])
    cut.write_bytes(b"".join(lines[:8]) + lines[8][:17])
    assert run(tmp_path, ner, src, out="cut.jsonl") == {"output": str(cut), "written": 13, "skipped": 8}
    assert [json.loads(x)["entities"] for x in cut.read_bytes().splitlines()] == \
           [json.loads(x)["entities"] for x in full.splitlines()]
    assert run(tmp_path, ner, src, out="cut.jsonl")["written"] == 0  # finished: nothing to do


def test_an_output_of_another_input_is_refused(tmp_path, ner):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"text": "x"}\n\n\n{"text": "y"}\n')
    b.write_text('{"text": "x"}\n{"text": "y"}\n')
    run(tmp_path, ner, a, out="o.jsonl", window=1)  # answers input lines 1 and 4
    with pytest.raises(DataError, match="do not match"):
        run(tmp_path, ner, b, out="o.jsonl")
