"""``predict.py``: a file of inputs -> one JSON line of answers per input, resumably.

* Streaming: inputs are read lazily and ``window`` at a time, so memory stays constant however
  long the file; within a window the predictor sorts by token length (little padding).
* Same answers as the server: the same ``Predictor`` on the same ``ServeSpec``.
* Resumable and never corrupted: after each window the lines are flushed and ``fsync``ed; a rerun
  counts the complete lines already in ``output``, cuts a partial last line (a kill mid-write),
  checks the last line's input line number against the input, and goes on from there.

Inputs: ``.txt`` (one text per line, an empty line is an empty text; pair models: ``text<TAB>pair``),
``.jsonl`` (``{"text"}``, ``{"text", "text_pair"}``, ``{"tokens"}``, ``{"question", "options"|"choices"}``;
an ``"id"`` is copied to the answer), ``.csv`` (``text_column``, ``text_pair_column``).
Each answer line is ``{"line": <input line>, ...the /predict answer...}``.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

from tunelab.errors import ConfigError, DataError

Item = tuple[int, dict]  # (input line number, predictor item [+ "id"])


def _check_item(item: dict, task: str, io: str | None, where: str) -> dict:
    """``item`` checked against what ``task`` takes: ``io`` is its serving IO kind (``serve_io``)."""
    if io == "tokens":
        ok = isinstance(item.get("text"), str) or (
            isinstance(item.get("tokens"), list) and all(isinstance(t, str) for t in item["tokens"]))
        need = '"text" (a string) or "tokens" (a list of strings)'
    elif io == "choice":
        if "options" not in item and "choices" in item:
            item["options"] = item.pop("choices")
        ok = isinstance(item.get("question"), str) and isinstance(item.get("options"), list) and bool(item["options"]) \
            and all(isinstance(o, str) for o in item["options"])
        need = '"question" and a non-empty list "options"'
    else:
        pair = io == "pair"
        ok = isinstance(item.get("text"), str) and (isinstance(item.get("text_pair"), str) or
                                                    (not pair and item.get("text_pair") is None))
        need = '"text" and "text_pair"' if pair else '"text" (and optionally "text_pair")'
    if not ok:
        raise DataError(f"{where}: a {task} input needs {need}; got keys {sorted(item)}")
    keep = ("text", "text_pair", "tokens", "question", "options", "id")
    return {k: item[k] for k in keep if item.get(k) is not None}


def read_inputs(path: Path, task: str, cfg: Mapping[str, Any]) -> Iterator[Item]:
    from tunelab.serving import task_io

    suffix = path.suffix.lower()
    io = task_io.kind(task)
    if suffix == ".txt":
        if io == "choice":
            raise ConfigError(f"input: {path}: multiple choice needs .jsonl ({{\"question\", \"options\"}})")
        with path.open(encoding="utf-8", newline="") as f:
            for lineno, line in enumerate(f, start=1):
                line = line.rstrip("\n").rstrip("\r")
                if io == "pair" or (io == "classify" and "\t" in line):
                    text, sep, pair = line.partition("\t")
                    item = {"text": text, "text_pair": pair} if sep else {"text": text}
                else:
                    item = {"text": line}
                yield lineno, _check_item(item, task, io, f"{path}:{lineno}")
    elif suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
                if not isinstance(item, dict):
                    raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(item).__name__}")
                yield lineno, _check_item(item, task, io, f"{path}:{lineno}")
    elif suffix == ".csv":
        text_col, pair_col = cfg.get("text_column", "text"), cfg.get("text_pair_column")
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            for col in (text_col, pair_col):
                if col is not None and col not in (reader.fieldnames or []):
                    raise DataError(f"{path}: no column {col!r}; columns are {reader.fieldnames}")
            for n, row in enumerate(reader, start=2):  # line 1 is the header
                item = {"text": row[text_col]}
                if pair_col is not None:
                    item["text_pair"] = row[pair_col]
                yield n, _check_item(item, task, io, f"{path}: row {n - 1}")
    else:
        raise ConfigError(f"input: {path}: unsupported format {suffix!r}; use .txt, .jsonl or .csv")


def count_lines(path: Path) -> int:
    n, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def _rfind_newline(f, before: int) -> int:
    """Position of the last b"\\n" before offset ``before`` (-1: none), reading backwards in chunks."""
    end = before
    while end > 0:
        start = max(0, end - (1 << 16))
        f.seek(start)
        nl = f.read(end - start).rfind(b"\n")
        if nl >= 0:
            return start + nl
        end = start
    return -1


def resume_point(output: Path) -> tuple[int, dict | None]:
    """Complete lines already in ``output`` (a partial last line is cut off) and the last of them."""
    if not output.exists():
        return 0, None
    with output.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        end = _rfind_newline(f, size) + 1  # after it: a line cut by a kill
        if end < size:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
        if end == 0:
            return 0, None
        n = 0
        f.seek(0)
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
        start = _rfind_newline(f, end - 1) + 1
        f.seek(start)
        last = f.read(end - start)
    try:
        return n, json.loads(last)
    except json.JSONDecodeError:
        raise DataError(f"{output}:{n}: not a JSON line; is this a predict.py output?") from None


def predict_file(cfg: Mapping[str, Any], predictor=None) -> dict:
    from tqdm import tqdm

    from tunelab.quiet import quiet
    from tunelab.serving import backend as backends
    from tunelab.serving import loading
    from tunelab.serving.predictor import Predictor

    quiet()
    src, out = Path(str(cfg["input"])).expanduser(), Path(str(cfg["output"])).expanduser()
    if not src.is_file():
        raise ConfigError(f"input: no such file {str(src)!r}")
    window, batch_size = int(cfg.get("window", 1024)), int(cfg.get("batch_size", 32))
    if window < 1 or batch_size < 1:
        raise ConfigError(f"window, batch_size: must be >= 1, got {window}, {batch_size}")
    if predictor is None:
        spec = loading.describe(str(cfg["model_path"]))
        if spec.io == "generate":
            raise ConfigError(f"model: {cfg['model_path']!r} is a causal LM; predict.py predicts supervised tasks "
                              "(use generate.py or POST /generate)")
        backends.check(cfg.get("backend", "pytorch"), spec)
        import torch

        torch.set_num_threads(int(cfg.get("threads", 1)))
        predictor = Predictor.from_spec(spec, backends.load(cfg.get("backend", "pytorch"), spec, cfg.get("device", "cpu")),
                                        batch_size=batch_size)
    task = predictor.task.name
    done, last = resume_point(out)
    items = read_inputs(src, task, cfg)
    # Count the skipped inputs but keep only the last (to match it against the output's last line):
    # a list of them cost ~0.5 KB a line on resume (+153 MB at 300k lines, bench_predict_memory.md).
    skipped, n_skipped = None, 0
    for skipped in itertools.islice(items, done):
        n_skipped += 1
    if done and (n_skipped < done or skipped[0] != last.get("line")):
        where = skipped[0] if n_skipped == done else f"only {n_skipped} inputs"
        raise DataError(f"{out}: its {done} lines do not match {src} (last line answers input line "
                        f"{last.get('line')}, input has {where}); delete it or choose another output")
    total = count_lines(src) if src.suffix.lower() in (".txt", ".jsonl") else None
    written = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("ab") as f, tqdm(total=total, initial=done, unit="text", disable=not cfg.get("progress", True),
                                   dynamic_ncols=True) as bar:
        while chunk := list(itertools.islice(items, window)):
            answers = predictor.predict([{k: v for k, v in item.items() if k != "id"} for _, item in chunk])
            lines = []
            for (lineno, item), answer in zip(chunk, answers):
                head = {"line": lineno, **({"id": item["id"]} if "id" in item else {})}
                lines.append(json.dumps({**head, **answer}, ensure_ascii=False) + "\n")
            f.write("".join(lines).encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())  # a kill after this never loses or corrupts these lines
            written += len(chunk)
            bar.update(len(chunk))
    return {"output": str(out), "written": written, "skipped": done}
