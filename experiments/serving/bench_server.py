"""Load test: serve.py (dynamic batching off / on, PyTorch / ONNX int8) vs the plain FastAPI +
transformers ``pipeline`` route a user would write (peer_pipeline_app.py), same model, same machine,
one run.

    TUNELAB_DATA_DIR=../shared/datasets python experiments/serving/bench_server.py \\
        --model logs/train/runs/<full_ncbi run> --duration 60 --concurrency 1,8,32

Each server is started here (its own process group), waited for (``GET /health`` 200), warmed up,
loaded at each concurrency in turn, then stopped. The load generator is an asyncio loop of
``concurrency`` httpx clients, each sending its next request as soon as the last one answered
(closed loop), for ``--duration`` seconds after ``--warmup`` seconds not counted. A request is one
text (``{"texts": [t]}``), cycling over the test set's texts (``--data`` / the run's data; NER
sentences are their words joined by spaces). Reported: completed requests/s, p50/p95/p99 latency,
errors (non-200 answers and transport errors/timeouts). The client shares the machine's cores with
the server, the same for every row. Writes a markdown table (``--out``, default
``bench_server_<data>.md`` beside this file).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import _common

# name -> (kind, folder key, serve.py overrides)
CONFIGS = {
    "peer": ("peer", "model", []),
    "pytorch": ("serve", "model", ["backend=pytorch", "max_batch_size=1"]),
    "pytorch-batched": ("serve", "model", ["backend=pytorch"]),
    "onnx-int8": ("serve", "onnx-int8", ["backend=onnx", "max_batch_size=1"]),
    "onnx-int8-batched": ("serve", "onnx-int8", ["backend=onnx"]),
}
LABELS = {
    "peer": "FastAPI + transformers pipeline per request (peer)",
    "pytorch": "serve.py, PyTorch fp32, batching off",
    "pytorch-batched": "serve.py, PyTorch fp32, dynamic batching",
    "onnx-int8": "serve.py, ONNX Runtime int8, batching off",
    "onnx-int8-batched": "serve.py, ONNX Runtime int8, dynamic batching",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A server in its own process group (LitServe's workers outlive a main process killed alone)."""

    def __init__(self, argv: list[str], env: dict, log: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log
        self.log = log.open("w")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.tail()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not healthy after {timeout}s: {self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text()[-2000:]

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.log.close()


def start(name: str, folders: dict, args, tmp: Path) -> Proc:
    kind, key, overrides = CONFIGS[name]
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "TOKENIZERS_PARALLELISM": "false"}
    if kind == "peer":
        env.update(PEER_MODEL=folders[key], PEER_THREADS=str(args.threads))
        argv = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "peer_pipeline_app:app",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    else:
        argv = [sys.executable, "serve.py", f"model={folders[key]}", f"port={port}", f"hydra.run.dir={tmp / name}",
                f"workers={args.workers}", f"threads={args.threads}", f"batch_timeout={args.batch_timeout}",
                f"limits.timeout_s={args.timeout}", *overrides]
        if "max_batch_size=1" not in overrides:
            argv.append(f"max_batch_size={args.max_batch_size}")
    return Proc(argv, env, tmp / f"{name}.log", port)


async def load(url: str, texts: list[str], concurrency: int, duration: float, warmup: float, timeout: float) -> dict:
    import httpx

    latencies: list[float] = []
    in_window = [0]  # answered within the measured window: what requests/s counts
    errors = {"count": 0, "first": None}
    counter = iter(range(10**12))
    t0 = time.perf_counter()
    measure_from, stop_at = t0 + warmup, t0 + warmup + duration

    async def client(http: httpx.AsyncClient) -> None:
        while True:
            start_t = time.perf_counter()
            if start_t >= stop_at:
                return
            text = texts[next(counter) % len(texts)]
            try:
                r = await http.post(url + "/predict", json={"texts": [text]})
                ok = r.status_code == 200
                why = None if ok else f"HTTP {r.status_code}: {r.text[:200]}"
            except httpx.HTTPError as exc:
                ok, why = False, f"{type(exc).__name__}: {exc}"
            end = time.perf_counter()
            if start_t >= measure_from:  # latency of every request sent in the window, even if it ends after
                if ok:
                    latencies.append(end - start_t)
                    in_window[0] += end <= stop_at
                else:
                    errors["count"] += 1
                    errors["first"] = errors["first"] or why

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return 1000 * lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] if lat else float("nan")

    return {"rps": in_window[0] / duration, "ok": len(lat), "p50": pct(50), "p95": pct(95), "p99": pct(99),
            "mean": 1000 * statistics.fmean(lat) if lat else float("nan"), "errors": errors["count"],
            "first_error": errors["first"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="run directory, export.py out_dir, or exported model folder")
    ap.add_argument("--data", default=None, help="data config for the request texts if the model has no run")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--split", default="test")
    ap.add_argument("--export-dir", default=None, help="where ONNX exports go (default: beside model/, or <run>/export)")
    ap.add_argument("--duration", type=float, default=60.0, help="measured seconds per concurrency level")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring, per level")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"subset of {','.join(CONFIGS)}")
    ap.add_argument("--workers", type=int, default=1, help="serve.py workers")
    ap.add_argument("--threads", type=int, default=1, help="torch/ONNX Runtime threads per worker (and the peer's)")
    ap.add_argument("--max-batch-size", type=int, default=32, help="serve.py max_batch_size when batching is on")
    ap.add_argument("--batch-timeout", type=float, default=0.005, help="serve.py batch_timeout (s)")
    ap.add_argument("--timeout", type=float, default=60.0, help="client and serve.py request timeout (s)")
    ap.add_argument("--startup-timeout", type=float, default=300.0)
    ap.add_argument("--out", default=None, help="markdown file (default: bench_server_<data>.md beside this script)")
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"--configs: unknown {unknown}; known: {', '.join(CONFIGS)}")

    from tunelab.quiet import quiet
    from tunelab.serving import loading

    quiet()
    folders = _common.exports(args.model, args.export_dir)
    spec = loading.describe(folders["model"])
    if spec.task not in ("token_classification", "sequence_classification"):
        raise SystemExit(f"--model: a {spec.task} model; this benchmark (and its pipeline peer) sends single texts "
                         "to token or sequence classifiers")
    dm = _common.data_module(spec, args.data, args.data_dir, loading.load_tokenizer(spec))
    texts = [_common.item_text(r).get("text", "") for r in dm.records[args.split]]
    texts = [t for t in texts if t]
    print(f"{dm.name}/{args.split}: {len(texts)} request texts; configs {names}; concurrency {levels}; "
          f"{args.duration:g}s each", flush=True)
    results: dict[tuple[str, int], dict] = {}
    out = Path(args.out) if args.out else HERE / f"bench_server_{dm.name}.md"
    with tempfile.TemporaryDirectory(prefix="bench_server_") as tmp:
        for name in names:
            server = start(name, folders, args, Path(tmp))
            try:
                t = time.perf_counter()
                server.wait_ready(args.startup_timeout)
                print(f"{name}: ready in {time.perf_counter() - t:.1f}s at {server.url}", flush=True)
                for c in levels:
                    res = asyncio.run(load(server.url, texts, c, args.duration, args.warmup, args.timeout))
                    results[(name, c)] = res
                    print(f"  c={c}: {res['rps']:.1f} req/s, p50 {res['p50']:.1f} ms, p95 {res['p95']:.1f} ms, "
                          f"p99 {res['p99']:.1f} ms, errors {res['errors']}"
                          + (f" (first: {res['first_error']})" if res["first_error"] else ""), flush=True)
                    write_table(out, args, dm.name, spec, folders, names, levels, results, len(texts))
            finally:
                server.stop()
    print(out.read_text())


def write_table(out: Path, args, data, spec, folders, names, levels, results, n_texts) -> None:
    from tunelab.run_info import machine_header

    lines = [
        f"# serve.py vs a FastAPI + pipeline route: {data}, {spec.info.get('base_model') or spec.path}", "",
        machine_header().rstrip(),
        f"- command: `{_common.command_line()}`",
        f"- versions: {_common.versions()}",
        f"- model: {spec.info.get('run_dir') or spec.path} (method {spec.info.get('method')}); PyTorch and the peer "
        f"load {folders['model']}, ONNX int8 {folders['onnx-int8']}",
        f"- load: closed loop, one text per request, cycling over {n_texts} {args.split} texts; "
        f"{args.warmup:g}s warm-up then {args.duration:g}s measured per concurrency level; the client runs on the same machine",
        f"- serve.py: workers {args.workers}, threads {args.threads}, dynamic batching max_batch_size "
        f"{args.max_batch_size}, batch_timeout {args.batch_timeout:g}s (off: max_batch_size=1); the peer: uvicorn, "
        f"1 process, torch threads {args.threads}",
        "",
        "| server | concurrency | requests/s | p50 ms | p95 ms | p99 ms | errors | vs peer (req/s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in names:
        for c in levels:
            r = results.get((name, c))
            if r is None:
                continue
            peer = results.get(("peer", c))
            ratio = f"{r['rps'] / peer['rps']:.2f}x" if peer and peer["rps"] > 0 else "-"
            lines.append(f"| {LABELS[name]} | {c} | {r['rps']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | "
                         f"{r['errors']} | {ratio} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
