"""Feedback: corrections -> training records; appends that never interleave or lose a line."""

from __future__ import annotations

import json
import multiprocessing as mp
import threading

import pytest

from tunelab.serving.feedback import FeedbackWriter, to_record

NER = ["O", "B-Disease", "I-Disease"]


def test_to_record_in_each_tasks_training_schema():
    assert to_record("token_classification", NER, {"text": "had asthma", "correct": [
        {"start": 4, "end": 10, "label": "Disease"}]}) == {"tokens": ["had", "asthma"], "tags": ["O", "B-Disease"]}
    assert to_record("token_classification", NER, {"text": "no entity", "correct": []})["tags"] == ["O", "O"]
    assert to_record("sequence_classification", ["neg", "pos"], {"text": "fine", "correct": "pos"}) == \
        {"text": "fine", "label": "pos"}
    assert to_record("sentence_pair_classification", ["0", "1"], {"text": "a", "text_pair": "b", "correct": "1"}) == \
        {"text": "a", "text_pair": "b", "label": "1"}
    mc = {"question": "q?", "options": ["x", "y", "z"]}
    for correct in (2, "C", "z"):
        assert to_record("multiple_choice", list("ABCD"), {**mc, "correct": correct}) == \
            {"question": "q?", "choices": ["x", "y", "z"], "label": "C"}
    assert to_record("clm", [], {"text": "The cat", "correct": " sat."}) == {"text": "The cat sat."}


@pytest.mark.parametrize("task, labels, body, message", [
    ("sequence_classification", ["neg", "pos"], {"text": "x", "correct": "meh"}, "not one of the model's labels"),
    ("sentence_pair_classification", ["0", "1"], {"text": "a", "correct": "1"}, "text_pair: required"),
    ("multiple_choice", list("ABCD"), {"question": "q", "options": ["x"], "correct": 3}, "not an option"),
    ("token_classification", NER, {"text": "x", "correct": "Disease"}, "list of entities"),
    ("token_classification", NER, {"text": "x", "correct": [{"start": "0", "end": 1, "label": "Disease"}]}, "integer"),
    ("clm", [], {"text": "x", "correct": 3}, "the text the model should"),
])
def test_to_record_refuses_with_a_reason(task, labels, body, message):
    with pytest.raises(ValueError, match=message):
        to_record(task, labels, body)


def _lines(path) -> list[dict]:
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.decode().splitlines()]


def test_concurrent_threads_write_every_line_whole(tmp_path):
    path = tmp_path / "serve" / "feedback.jsonl"
    writer = FeedbackWriter(path, model="m")
    n_threads, per_thread = 8, 25
    long_text = "x" * 5000  # lines far longer than a pipe buffer: still never interleaved

    def work(t: int) -> None:
        for i in range(per_thread):
            writer.append({"text": f"{t}-{i} {long_text}", "label": "pos"}, {"prediction": {"label": "neg"}})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    lines = _lines(path)
    assert len(lines) == n_threads * per_thread
    assert sorted(line["text"].split()[0] for line in lines) == sorted(f"{t}-{i}" for t in range(n_threads) for i in range(per_thread))
    assert lines[0]["feedback"]["prediction"] == {"label": "neg"} and lines[0]["feedback"]["model"] == "m"


def _write_from_process(path: str, p: int, n: int) -> None:
    writer = FeedbackWriter(path)
    for i in range(n):
        writer.append({"text": f"{p}-{i} " + "y" * 3000, "label": "pos"})


def test_concurrent_processes_write_every_line_whole(tmp_path):
    # Several HTTP processes (num_api_servers > 1) append to one file: the flock orders them.
    path = tmp_path / "feedback.jsonl"
    procs = [mp.get_context("fork").Process(target=_write_from_process, args=(str(path), p, 20)) for p in range(4)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join()
        assert pr.exitcode == 0
    assert len(_lines(path)) == 80


def test_a_partial_line_left_by_a_crash_is_cut_by_the_next_append(tmp_path):
    path = tmp_path / "feedback.jsonl"
    writer = FeedbackWriter(path)
    writer.append({"text": "a", "label": "pos"})
    with path.open("ab") as f:
        f.write(b'{"text": "never acknowledg')
    writer.append({"text": "b", "label": "neg"})
    assert [line["text"] for line in _lines(path)] == ["a", "b"]
