"""Serving asks the task (``serve_io``, its head, ``peft_task_type``), never compares task names."""

from __future__ import annotations

import json

import pytest

from tests.serving_helpers import save_tiny_head
from tunelab import tasks
from tunelab.errors import ConfigError
from tunelab.serving import task_io
from tunelab.serving.feedback import to_record
from tunelab.serving.loading import describe, servable, task_for_head
from tunelab.tasks.base import SERVE_IO


def test_every_task_declares_a_serve_io_the_serving_tables_know():
    assert set(task_io._IO) | {"generate"} == SERVE_IO  # every kind but generation has a /predict IO
    for name in tasks.names():
        task = tasks.get(name)
        assert task.serve_io is None or task.serve_io in SERVE_IO, name
        if task.serve_io is None:
            assert task.serve_refusal and "\n" not in task.serve_refusal, name  # the one-line reason
            assert not task_io.predicts(task)
        elif task.serve_io != "generate":
            assert task_io.for_task(task) is task_io._IO[task.serve_io]
        with pytest.raises(ValueError) as refused:  # feedback knows every served kind's schema
            to_record(name, [], {})
        assert ("takes no feedback" in str(refused.value)) == (task.serve_io is None), name
    assert servable() == sorted(n for n in tasks.names() if tasks.get(n).serve_io is not None)


def test_a_head_shared_by_served_tasks_has_one_default():
    heads: dict[str, list] = {}
    for name in servable():
        task = tasks.get(name)
        heads.setdefault(task.auto_class, []).append(task)
    for auto_class, sharing in heads.items():
        assert len(sharing) == 1 or sum(t.serve_default_for_head for t in sharing) == 1, auto_class


@pytest.mark.parametrize("architecture", ["BertForTokenClassification", "BertForSequenceClassification",
                                          "BertForMultipleChoice", "LlamaForCausalLM", "GPT2LMHeadModel"])
def test_a_head_maps_to_the_task_that_builds_it(architecture):
    task = task_for_head(architecture)
    assert task.serve_io is not None and task.serve_default_for_head
    assert architecture.endswith(task.auto_class.removeprefix("AutoModel")) or \
        any(architecture.endswith(s) for s in task.head_suffixes)


def test_no_served_task_for_a_bare_encoder_or_a_masked_lm():
    assert task_for_head("BertModel") is None and task_for_head("") is None
    assert task_for_head("BertForMaskedLM") is None  # its task serves nothing


def test_a_shared_head_takes_the_task_its_run_recorded(tmp_path):
    pair = next(tasks.get(n) for n in servable() if tasks.get(n).serve_io == "pair")
    folder = save_tiny_head(tmp_path / "m", pair.name, ["0", "1"])
    (folder / "tunelab_export.json").unlink()
    default = describe(str(folder))
    assert default.task != pair.name and default.io == "classify"  # the head's default
    (folder / "run_info.json").write_text(json.dumps({"config": {"data": {"task": pair.name, "max_length": 64}}}))
    spec = describe(str(folder))
    assert (spec.task, spec.io, spec.max_length) == (pair.name, "pair", 64)


def test_unknown_task_of_a_run_is_refused_in_one_line(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "run_info.json").write_text(json.dumps({"config": {"data": {"task": "ner"}}}))
    with pytest.raises(ConfigError, match=r"run of task 'ner'; serve.py serves "):
        describe(str(run))
