"""Bad input to the assistant's readers and commands is one line (docs/errors.md rows)."""

from __future__ import annotations

import pytest

from tunelab.assistant.answer import answer
from tunelab.assistant.data import split_records
from tunelab.data.assist_readers import read_bitext, read_medquad
from tunelab.errors import ConfigError, DataError

HEADER = "instruction,intent,category,response\n"


def test_bitext_csv_without_its_columns(tmp_path):
    f = tmp_path / "b.csv"
    f.write_text("text,label\nhi,greet\n")
    with pytest.raises(DataError, match=r"^.*b.csv: not a Bitext CSV: no column\(s\) \['instruction', 'intent', 'response'\]"):
        read_bitext(f)


def test_bitext_row_with_an_empty_response_names_its_line(tmp_path):
    f = tmp_path / "b.csv"
    f.write_text(HEADER + 'cancel it,cancel_order,ORDER,"Sure,\nI will"\nrefund,get_refund,REFUND,\n')
    with pytest.raises(DataError, match=r"^.*b.csv:4: empty instruction, response or intent$"):
        read_bitext(f)
    f.write_text(HEADER + 'cancel it,cancel_order,ORDER,"Sure,\r\nI will {{Order Number}}"\n')
    assert read_bitext(f)[0]["response"] == "Sure,\nI will {{Order Number}}"  # CRLF normalised, slot kept


def test_medquad_folder_missing_or_bad_xml(tmp_path):
    with pytest.raises(DataError, match=r"^.*nope: no such folder"):
        read_medquad(tmp_path / "nope")
    (tmp_path / "m" / "1_X").mkdir(parents=True)
    (tmp_path / "m" / "1_X" / "a.xml").write_text("<Document><Focus>x</Focus><QAPairs>")
    with pytest.raises(DataError, match=r"^.*a.xml: invalid XML: "):
        read_medquad(tmp_path / "m")
    with pytest.raises(ConfigError, match=r"^data.source.options.fractions: must sum to 1"):
        read_medquad(tmp_path / "m", {"train": 0.5, "test": 0.2})


def test_medquad_split_keeps_each_focus_in_one_split(tmp_path):
    sub = tmp_path / "m" / "1_X"
    sub.mkdir(parents=True)
    for i in range(20):
        pairs = "".join(f'<QAPair><Question qid="{i}-{j}" qtype="information">What is E{i} {j}?</Question>'
                        f"<Answer>E{i} is {j}.</Answer></QAPair>" for j in range(3))
        # two files about one entity (different case) must travel together
        (sub / f"{i:03d}_1.xml").write_text(f'<Document id="{i}"><Focus>Entity {i % 10}</Focus><QAPairs>{pairs}</QAPairs></Document>')
    (sub / "999_1.xml").write_text('<Document id="n"><Focus>entity 0</Focus><QAPairs><QAPair><Question>q?</Question>'
                                  "<Answer></Answer></QAPair></QAPairs></Document>")  # no answer: skipped
    splits = read_medquad(tmp_path / "m", seed=1)
    assert sum(map(len, splits.values())) == 60
    groups = {k: {r["group"] for r in v} for k, v in splits.items()}
    assert not (groups["train"] & groups["test"]) and not (groups["train"] & groups["validation"])
    assert len(splits["train"]) == 48 and all(splits.values())


def test_assist_refusals_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^model: required; pass model="):
        answer({"model_path": "???", "question": "hi"})
    with pytest.raises(ConfigError, match=r'^question: empty; pass question="..."$'):
        answer({"model_path": "smollm2_135m", "question": "???"})
    with pytest.raises(ConfigError, match=r"^k: must be >= 1, got 0$"):
        answer({"model_path": "smollm2_135m", "question": "hi", "k": 0})
    with pytest.raises(ConfigError, match=r"^index: no such index file '.*nope.pt' \(build one: "):
        answer({"model_path": "smollm2_135m", "question": "hi", "index": str(tmp_path / "nope.pt")})


def test_unknown_data_config_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"^data: no data config 'bitext' in .*conf/data; known: .*bitext_sft"):
        split_records("bitext")
