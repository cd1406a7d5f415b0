"""Benchmark: predict.py's memory on a 1,000,000-line file, and resuming after a kill.

    OMP_NUM_THREADS=1 python experiments/serving/bench_predict_memory.py --lines 1000000
    (--model: any model predict.py takes; default a tiny random 1-layer BERT NER head exported as the
     tests build it, so the run measures predict.py's streaming, not a model's forward pass.)

1. Writes ``--lines`` short varied sentences (3-24 words from a small clinical vocabulary, a seeded
   RNG) to ``<workdir>/input.txt`` (``/tmp``; not committed).
2. Runs the real CLI (``python predict.py model=... input=... output=... threads=1``) as a subprocess
   and, every ``--interval`` s, reads its RSS (psutil, else /proc/<pid>/status VmRSS) and how many
   complete lines the output holds (the bytes appended since the last sample, newlines counted).
   Reports RSS at 1/10/50/100% of the lines, the peak (VmHWM, the kernel's high-water mark, and the
   largest sample), lines/s, and checks the output: exactly one JSON line per input line, ``line``
   fields 1..N in order.
3. Runs it again into a fresh output, SIGKILLs it when ~``--kill-at`` of the lines are written (a
   kill may land mid-write), counts the complete lines and any partial tail, reruns the same command
   (it resumes) while sampling RSS again, and checks the resumed output: N lines, ``line`` 1..N with
   no duplicate or gap, every line valid JSON, answers equal to the uninterrupted run's.
Writes a markdown table (``--out``, default ``bench_predict_memory.md`` beside this file).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import _common

WORDS = ("the patient had breast cancer and asthma with colon tumour after surgery in 2019 but no diabetes "
         "was found during routine screening of blood pressure ; a family history of ovarian carcinoma , "
         "Huntington disease and type 2 diabetes mellitus was reported by her mother . Mutations in BRCA1 "
         "cause hereditary breast-ovarian cancer syndrome ( HBOC ) 乳腺癌 患者 😀 déjà vu").split()


def write_input(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        buf = []
        for i in range(n):
            buf.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 24))))
            if len(buf) == 10000:
                f.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            f.write("\n".join(buf) + "\n")


def rss_and_hwm(pid: int) -> tuple[int | None, int | None]:
    """(VmRSS, VmHWM) in bytes from /proc (psutil's rss is the same VmRSS); None once the process is gone."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    except (FileNotFoundError, ProcessLookupError):
        return None, None
    kb = lambda k: int(fields[k].split()[0]) * 1024 if k in fields else None  # noqa: E731
    return kb("VmRSS"), kb("VmHWM")


class Run:
    """predict.py as a subprocess, sampled every ``interval`` s: (seconds, complete output lines, RSS)."""

    def __init__(self, model: str, src: Path, out: Path, log: Path, batch_size: int, window: int) -> None:
        self.cmd = [sys.executable, "predict.py", f"model={model}", f"input={src}", f"output={out}", "threads=1",
                    f"batch_size={batch_size}", f"window={window}", "progress=false"]
        self.out, self.log = out, log
        self.samples: list[tuple[float, int, int]] = []
        self.hwm = 0
        self.start_lines = _count_newlines(out) if out.exists() else 0
        self._offset = out.stat().st_size if out.exists() else 0
        self.lines = self.start_lines

    def _read_progress(self) -> None:
        if not self.out.exists():
            return
        with self.out.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        self._offset += len(data)
        self.lines += data.count(b"\n")

    def run(self, interval: float, kill_at_lines: int | None = None) -> dict:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
        with self.log.open("w") as log:
            t0 = time.perf_counter()
            proc = subprocess.Popen(self.cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            killed = False
            first_line_s = None
            while proc.poll() is None:
                rss, hwm = rss_and_hwm(proc.pid)
                self._read_progress()
                now = time.perf_counter() - t0
                if rss is not None:
                    self.samples.append((now, self.lines, rss))
                    self.hwm = max(self.hwm, hwm or 0)
                if first_line_s is None and self.lines > self.start_lines:
                    first_line_s = now
                if kill_at_lines is not None and self.lines >= kill_at_lines:
                    proc.send_signal(signal.SIGKILL)  # no cleanup: as a power cut or the OOM killer would
                    killed = True
                    proc.wait()
                    break
                time.sleep(interval)
            proc.wait()
            elapsed = time.perf_counter() - t0
        self._read_progress()
        return {"rc": proc.returncode, "killed": killed, "elapsed_s": elapsed, "first_line_s": first_line_s,
                "stdout": self.log.read_text()[-2000:]}

    def rss_at(self, fraction: float, total: int) -> tuple[float, int] | None:
        """(seconds, RSS) of the first sample with at least ``fraction`` of ``total`` lines written."""
        want = fraction * total
        hit = next(((t, r) for t, n, r in self.samples if n >= want), None)
        return hit or ((self.samples[-1][0], self.samples[-1][2]) if self.samples and fraction >= 1 else None)


def _count_newlines(path: Path) -> int:
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
    return n


def check_output(path: Path, n: int) -> dict:
    """Every line valid JSON, ``line`` 1..n in order (no gap, no duplicate); a partial tail counted."""
    bad_json, out_of_order, count, tail = 0, 0, 0, 0
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                tail = len(raw)
                break
            count += 1
            try:
                got = json.loads(raw)["line"]
            except (ValueError, KeyError):
                bad_json += 1
                continue
            if got != count:
                out_of_order += 1
    return {"lines": count, "bad_json": bad_json, "out_of_order": out_of_order, "partial_tail_bytes": tail,
            "ok": count == n and not bad_json and not out_of_order and not tail}


def compare(a: Path, b: Path) -> dict:
    """Line by line: byte-identical lines, and lines whose decisions (entity spans and labels, or the
    label) differ; the largest score difference (windows shifted by the resume pad batches differently)."""
    same_bytes, differ, max_score = 0, 0, 0.0
    with a.open("rb") as fa, b.open("rb") as fb:
        for la, lb in zip(fa, fb):
            if la == lb:
                same_bytes += 1
                continue
            ja, jb = json.loads(la), json.loads(lb)
            key = lambda j: ([(e["label"], e["start"], e["end"]) for e in j["entities"]] if "entities" in j  # noqa: E731
                             else j.get("label"))
            if key(ja) != key(jb):
                differ += 1
                continue
            sa = [e["score"] for e in ja["entities"]] if "entities" in ja else list(ja["probabilities"].values())
            sb = [e["score"] for e in jb["entities"]] if "entities" in jb else list(jb["probabilities"].values())
            max_score = max([max_score] + [abs(x - y) for x, y in zip(sa, sb)])
    return {"same_bytes": same_bytes, "decisions_differ": differ, "max_score_diff": max_score}


def mb(x: int | None) -> str:
    return "-" if x is None else f"{x / 2**20:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--model", default=None, help="a model predict.py takes (default: a tiny random NER export)")
    ap.add_argument("--workdir", default="/tmp/tunelab_bench_predict_memory")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between RSS samples")
    ap.add_argument("--kill-at", type=float, default=0.3, help="SIGKILL the second run at this share of the lines")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--window", type=int, default=1024)
    ap.add_argument("--keep", action="store_true", help="keep the input and output files")
    ap.add_argument("--out", default=None, help="markdown file (default: bench_predict_memory.md beside this script)")
    args = ap.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model is None:
        from tests.serving_helpers import save_tiny_head

        model = str(save_tiny_head(work / "tiny_ner" / "model"))
    src = work / "input.txt"
    t = time.perf_counter()
    write_input(src, args.lines)
    print(f"{src}: {args.lines} lines, {src.stat().st_size / 2**20:.1f} MB, written in {time.perf_counter() - t:.1f}s",
          flush=True)
    for p in work.glob("out_*.jsonl"):
        p.unlink()

    # 1. one uninterrupted run
    full_out = work / "out_full.jsonl"
    full = Run(model, src, full_out, work / "full.log", args.batch_size, args.window)
    r_full = full.run(args.interval)
    print(f"full run: rc {r_full['rc']}, {r_full['elapsed_s']:.1f}s; {r_full['stdout'].strip().splitlines()[-1:]}", flush=True)
    chk_full = check_output(full_out, args.lines)
    print(f"full output: {chk_full}", flush=True)

    # 2. killed at ~kill_at, then resumed
    res_out = work / "out_resumed.jsonl"
    killed = Run(model, src, res_out, work / "killed.log", args.batch_size, args.window)
    r_killed = killed.run(args.interval, kill_at_lines=int(args.kill_at * args.lines))
    chk_killed = check_output(res_out, args.lines)
    print(f"killed run: {r_killed['elapsed_s']:.1f}s, output then: {chk_killed}", flush=True)
    resumed = Run(model, src, res_out, work / "resumed.log", args.batch_size, args.window)
    r_res = resumed.run(args.interval)
    print(f"resumed run: rc {r_res['rc']}, {r_res['elapsed_s']:.1f}s; {r_res['stdout'].strip().splitlines()[-1:]}", flush=True)
    chk_res = check_output(res_out, args.lines)
    same = compare(full_out, res_out)
    print(f"resumed output: {chk_res}; vs the full run: {same}", flush=True)

    write_table(Path(args.out) if args.out else HERE / "bench_predict_memory.md", args, model, src,
                full, r_full, chk_full, killed, r_killed, chk_killed, resumed, r_res, chk_res, same)
    if not args.keep:
        for p in (src, full_out, res_out):
            p.unlink(missing_ok=True)


def _rate(run: Run, r: dict, lines: int) -> tuple[str, str]:
    total = f"{lines / r['elapsed_s']:.0f}"
    steady = f"{lines / (r['elapsed_s'] - r['first_line_s']):.0f}" if r["first_line_s"] else "-"
    return total, steady


def write_table(out: Path, args, model, src, full, r_full, chk_full, killed, r_killed, chk_killed, resumed, r_res,
                chk_res, same) -> None:
    from tunelab.run_info import machine_header

    n = args.lines
    fracs = (0.01, 0.1, 0.5, 1.0)

    def row(name: str, run: Run, r: dict, lines: int, from_frac: float = 0.0, upto: float = 1.0) -> str:
        cells = []
        for f in fracs:
            hit = run.rss_at(f, n) if from_frac <= f <= upto else None
            cells.append(f"{mb(hit[1])} ({hit[0]:.0f}s)" if hit else "-")
        peak_sample = max((s[2] for s in run.samples), default=None)
        total, steady = _rate(run, r, lines)
        return (f"| {name} | {lines:,} | " + " | ".join(cells) +
                f" | {mb(full.hwm if run is full else run.hwm)} / {mb(peak_sample)} | {r['elapsed_s']:.0f} | {total} | "
                f"{steady} | {len(run.samples)} |")

    resumed_written = n - chk_killed["lines"]
    lines = [
        f"# predict.py on a {n:,}-line file: memory while streaming, and resuming after a kill", "",
        machine_header().rstrip(),
        f"- command: `{_common.command_line()}`",
        f"- versions: {_common.versions()}",
        f"- model: {model} (a random 1-layer BERT, hidden 32, NER head O/B-Disease/I-Disease, as the tests build "
        "it: the forward pass is cheap, so this measures predict.py's reading, batching, decoding and writing)"
        if args.model is None else f"- model: {model}",
        f"- input: {src} ({n:,} lines, {src.stat().st_size / 2**20:.0f} MB; 3-24 words each, seeded; not "
        f"committed); output {Path(full.out).stat().st_size / 2**20:.0f} MB of JSON lines",
        f"- predict.py: `{' '.join(full.cmd[1:])}` as a subprocess (OMP_NUM_THREADS=1); RSS from "
        f"/proc/<pid>/status every {args.interval} s; output lines counted from the bytes appended between samples",
        "- load: another training run shared the 2 cores all along (about 1.7 of them); absolute speed is not "
        "the point, memory is",
        "",
        "## Memory and speed",
        "",
        "| run | lines written | RSS MB at 1% | at 10% | at 50% | at 100% | peak MB (VmHWM / max sample) | s | "
        "lines/s (incl. start) | lines/s (after first line) | samples |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        row("uninterrupted", full, r_full, n),
        row(f"killed at ~{args.kill_at:.0%}", killed, r_killed, chk_killed["lines"], upto=args.kill_at),
        row("resumed", resumed, r_res, resumed_written, from_frac=args.kill_at),
        "",
        "(At x%: the first sample with at least x% of all lines in the output, with the seconds since that "
        "run's start; the resumed run starts with the killed run's lines already there.)",
        "",
        "## Output checks",
        "",
        "| output | complete lines | partial tail bytes | invalid JSON | `line` out of order / duplicated | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| uninterrupted | {chk_full['lines']:,} | {chk_full['partial_tail_bytes']} | {chk_full['bad_json']} | "
        f"{chk_full['out_of_order']} | {'exactly ' + format(n, ',') + ' lines, 1..N in order' if chk_full['ok'] else 'FAILED'} |",
        f"| after SIGKILL | {chk_killed['lines']:,} | {chk_killed['partial_tail_bytes']} | {chk_killed['bad_json']} | "
        f"{chk_killed['out_of_order']} | a prefix of the answers{' plus a cut line' if chk_killed['partial_tail_bytes'] else ''} |",
        f"| after the rerun | {chk_res['lines']:,} | {chk_res['partial_tail_bytes']} | {chk_res['bad_json']} | "
        f"{chk_res['out_of_order']} | {'exactly ' + format(n, ',') + ' lines, 1..N, no duplicate or gap' if chk_res['ok'] else 'FAILED'} |",
        "",
        f"- rerun said: `{(r_res['stdout'].strip().splitlines() or [''])[-1]}`",
        f"- resumed vs uninterrupted output, line by line: {same['same_bytes']:,} of {n:,} byte-identical; "
        f"{same['decisions_differ']} with different decisions; largest score difference {same['max_score_diff']:.2g} "
        f"(a kill between two fsync'd windows leaves whole windows, so the rerun's {args.window}-line windows line up "
        "with the first run's; a kill elsewhere would shift them and pad texts in other batches, moving scores in "
        "the last digits)",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
