"""Read W&B offline runs without a server: config, group, summary, history and exit code.

W&B 0.31 writes an offline run only as its binary ``run-*.wandb`` log (no ``files/config.yaml``).
The log is LevelDB-style (a 7-byte header, then 32 KiB blocks of CRC/length/type-framed chunks)
holding W&B's protobuf ``Record`` messages, which the installed wandb package can parse.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Iterator

BLOCK = 32768


def records(run_dir: str | Path) -> Iterator[Any]:
    """The protobuf records of ``<run_dir>/run-*.wandb``; a record still being written is skipped."""
    from wandb.proto import wandb_internal_pb2 as pb

    logs = sorted(Path(run_dir).glob("run-*.wandb"))
    if not logs:
        return
    data = logs[0].read_bytes()
    if data[:4] != b":W&B":
        return
    pos, buf = 7, b""
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # a block's tail too short for a chunk header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if pos + 7 + length > len(data):
            return
        if kind == 0:
            pos += left
            continue
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk  # FULL, FIRST | MIDDLE, LAST
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(buf)
            yield record


def _items(update) -> dict[str, Any]:
    return {(item.key or "/".join(item.nested_key)): json.loads(item.value_json) for item in update}


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """{"id", "group", "config", "summary", "history": [row, ...], "exit_code"} of one offline run."""
    out: dict[str, Any] = {"id": None, "group": None, "config": {}, "summary": {}, "history": [], "exit_code": None}
    for rec in records(run_dir):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out["id"], out["group"] = rec.run.run_id, rec.run.run_group
            out["config"].update(_items(rec.run.config.update))
        elif kind == "config":
            out["config"].update(_items(rec.config.update))
        elif kind == "history":
            out["history"].append(_items(rec.history.item))
        elif kind == "summary":
            out["summary"].update(_items(rec.summary.update))
        elif kind == "exit":
            out["exit_code"] = rec.exit.exit_code
    return out
