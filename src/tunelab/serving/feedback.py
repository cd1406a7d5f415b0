"""``POST /feedback``: a correction becomes one training record, appended to ``feedback.jsonl``.

Each line is a record in the task's own training schema (what its readers produce and
``data.extra_train`` reads back), chosen by the serving IO kind the task declares (``serve_io``):
``{"tokens", "tags"}`` for ``tokens`` (NER), ``{"text", "label"}`` (+ ``"text_pair"``) for
``classify`` and ``pair``, ``{"question", "choices", "label"}`` for ``choice``, ``{"text"}`` for
``generate`` (a causal LM), plus a ``"feedback"`` object (the prediction the user saw, the time,
the model) that training ignores.

Appends are safe under concurrent requests, threads and HTTP processes alike: each one opens the
file with ``O_APPEND``, takes an exclusive ``flock``, writes the whole line, ``fsync``s, and only
then answers. A line left partial by a crash (never acknowledged) is cut off by the next append,
so the file is always whole lines.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

from tunelab.serving import task_io
from tunelab.serving.words import tags_from_spans


def entity_types(labels: Sequence[str]) -> list[str]:
    return sorted({lab.split("-", 1)[1] for lab in labels if lab != "O" and "-" in lab})


def to_record(task: str, labels: Sequence[str], body: Mapping[str, Any]) -> dict:
    """The training record a correction stands for; ValueError (a one-line reason) if it cannot be one."""
    correct = body.get("correct")
    io = task_io.kind(task)
    if io == "tokens":
        if not isinstance(correct, list) or not all(isinstance(e, dict) for e in correct):
            raise ValueError('correct: must be a list of entities {"start", "end", "label"} (may be empty)')
        for n, e in enumerate(correct):
            if not (isinstance(e.get("start"), int) and isinstance(e.get("end"), int) and isinstance(e.get("label"), str)):
                raise ValueError(f'correct[{n}]: needs integer "start", "end" and a string "label"')
        words, tags = tags_from_spans(_need_str(body, "text"), correct, entity_types(labels))
        return {"tokens": words, "tags": tags}
    if io in ("classify", "pair"):
        if correct not in labels:
            raise ValueError(f"correct: {correct!r} is not one of the model's labels ({', '.join(map(str, labels[:20]))}"
                             f"{', ...' if len(labels) > 20 else ''})")
        record = {"text": _need_str(body, "text"), "label": correct}
        if body.get("text_pair") is not None or io == "pair":
            record["text_pair"] = _need_str(body, "text_pair")
        return record
    if io == "choice":
        options = body.get("options")
        if not isinstance(options, list) or not options or not all(isinstance(o, str) for o in options):
            raise ValueError("options: must be a non-empty list of strings")
        letters = [chr(ord("A") + i) for i in range(len(options))]
        if isinstance(correct, int) and not isinstance(correct, bool) and 0 <= correct < len(options):
            index = correct
        elif correct in letters:
            index = letters.index(correct)
        elif correct in options:
            index = options.index(correct)
        else:
            raise ValueError(f"correct: {correct!r} is not an option index (0-{len(options) - 1}), letter or option text")
        return {"question": _need_str(body, "question"), "choices": list(options), "label": letters[index]}
    if io == "generate":
        if not isinstance(correct, str):
            raise ValueError("correct: must be the text the model should have written")
        return {"text": _need_str(body, "text") + correct}
    raise ValueError(f"task {task!r} takes no feedback")


def _need_str(body: Mapping, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key}: required, a string")
    return value


class FeedbackWriter:
    def __init__(self, path: str | os.PathLike, model: str | None = None) -> None:
        self.path = Path(path)
        self.model = model
        self._lock = threading.Lock()

    def line(self, record: Mapping, body: Mapping) -> bytes:
        meta = {"prediction": body.get("prediction"), "time": dt.datetime.now(dt.timezone.utc).isoformat(),
                "model": self.model}
        if body.get("adapter") is not None:
            meta["adapter"] = body["adapter"]
        return (json.dumps({**record, "feedback": meta}, ensure_ascii=False) + "\n").encode()

    def append(self, record: Mapping, body: Mapping | None = None) -> None:
        data = self.line(record, body or {})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            created = not self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                _cut_partial_line(fd)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)  # releases the flock
            if created:
                _fsync_dir(self.path.parent)


def _cut_partial_line(fd: int) -> None:
    """Drop a trailing line without its newline (a write cut short by a crash)."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    end = size
    while end > 0:
        start = max(0, end - 65536)
        chunk = os.pread(fd, end - start, start)
        nl = chunk.rfind(b"\n")
        if nl >= 0:
            os.ftruncate(fd, start + nl + 1)
            return
        end = start
    os.ftruncate(fd, 0)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
