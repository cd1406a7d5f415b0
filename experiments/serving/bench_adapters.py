"""Benchmark: several LoRA adapters of one base in one serving process — memory, load time, latency.

    TUNELAB_DATA_DIR=../shared/datasets OMP_NUM_THREADS=1 python experiments/serving/bench_adapters.py \\
        --counts 1 4 16 64 --repeats 7

The adapters: ``--base`` (default the offline zoo's ``minilm``, all-MiniLM-L6-v2) with a
token-classification head for NCBI-disease's labels, LoRA r=8 on query/value (peft ``TOKEN_CLS``,
so each adapter also carries its own copy of the head, as a tunelab LoRA run's adapter does), the A
and B matrices and the head random per adapter (B != 0, so every adapter changes the answers). The
main model is adapter 0 merged into the base and exported as ``export.py`` does (``model/`` +
``tunelab_export.json``). They are written under ``--workdir`` (``/tmp``; not committed).

For each N in ``--counts``, a fresh child process does what a serve.py worker does with
``adapters={a0: ..., a<N-1>: ...}``: ``adapters.describe`` in the "main process", then
``PredictAPI(spec, adapters=...)`` and its ``setup`` (the worker's background load:
``Predictor.from_spec`` on the merged main model, then ``adapters.load`` -> one ``PeftModel``
holding every adapter). Measured: process RSS (``/proc/self/status``) after the imports, after the
main model, after the PeftModel's base plus its first adapter, and after each further adapter; the
wall time of each adapter's load (``PeftModel.from_pretrained`` / ``load_adapter``, wrapped with a
timer); each adapter's parameter bytes and its ``adapter_model.safetensors`` size.

In the child with the largest N, latency and throughput of ``PredictAPI.predict`` (what LitServe
calls with one dynamic batch) on NCBI-disease test sentences, ``--repeats`` rounds with the order of
the configurations rotating per round, medians over rounds of each round's median call:

* batch 1: one request of one text naming no adapter (the merged main model), naming ``a0`` (one
  unmerged adapter), or naming the next adapter in turn (``a0, a1, ...``: alternating);
* batch 32: a dynamic batch of 32 one-text requests naming no adapter / all ``a0`` / one adapter per
  batch, the next one each batch (switching between batches) / 32 different adapters (alternating
  within the batch: ``PredictAPI.predict`` runs one forward pass per adapter).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import _common

LABELS = ["O", "B-Disease", "I-Disease"]  # NCBI-disease (logs/backbones/minilm_ncbi_s1/labels.json)


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def mem_total() -> tuple[int, int]:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    kb = lambda k: int(info[k].split()[0]) * 1024  # noqa: E731
    return kb("MemTotal"), kb("MemAvailable")


# -- the adapters ------------------------------------------------------------------------------
def build(work: Path, base: str, n: int, rank: int) -> tuple[Path, dict[str, str]]:
    """``n`` LoRA adapters of ``base`` (``<work>/adapters/a<k>/adapter``) and adapter 0 merged (``<work>/main/model``)."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForTokenClassification

    from tunelab.models.backbone import build_tokenizer, resolve_source

    source = resolve_source(base, "model")
    kw = dict(num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    folders = {f"a{k}": work / "adapters" / f"a{k}" / "adapter" for k in range(n)}
    main = work / "main" / "model"
    if all((f / "adapter_config.json").is_file() for f in folders.values()) and (main / "tunelab_export.json").is_file():
        return main, {k: str(v) for k, v in folders.items()}
    model = get_peft_model(AutoModelForTokenClassification.from_pretrained(source, **kw),
                           LoraConfig(task_type="TOKEN_CLS", r=rank, lora_alpha=2 * rank, target_modules=["query", "value"]))
    for k, (name, folder) in enumerate(folders.items()):
        torch.manual_seed(k)
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if "lora_A" in pname:
                    p.normal_(std=0.05)
                elif "lora_B" in pname:
                    p.normal_(std=0.05)  # B != 0: the adapter changes the model
                elif "modules_to_save" in pname:
                    p.normal_(std=0.02)  # its own head
        model.save_pretrained(str(folder))
    merged = PeftModel.from_pretrained(AutoModelForTokenClassification.from_pretrained(source, **kw),
                                       str(folders["a0"])).merge_and_unload()
    main.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(main))
    build_tokenizer({"name_or_path": base}).save_pretrained(str(main))
    (main / "tunelab_export.json").write_text(json.dumps(
        {"ckpt_path": None, "method": "lora", "task": "token_classification", "labels": LABELS}))
    return main, {k: str(v) for k, v in folders.items()}


# -- one child: N adapters in one worker -------------------------------------------------------
def child(args) -> dict:
    rss_start = rss()
    import peft
    import torch

    from tunelab.quiet import quiet
    from tunelab.serving import adapters as serving_adapters
    from tunelab.serving.api import PredictAPI
    from tunelab.serving.loading import describe

    quiet()
    torch.set_num_threads(1)
    folders = json.loads(Path(args.child_spec).read_text())
    main, all_adapters = folders["main"], folders["adapters"]
    names = list(all_adapters)[: args.child]
    spec = describe(main)
    chosen = serving_adapters.describe(spec, {k: all_adapters[k] for k in names})  # serve.py's main process
    rss_imports = rss()

    # Time and measure each adapter's load inside adapters.load, without changing what it runs.
    loads: list[dict] = []
    marks: dict[str, int] = {}
    orig_from, orig_load = peft.PeftModel.from_pretrained.__func__, peft.PeftModel.load_adapter
    orig_adapters_load = serving_adapters.load

    inside = []

    def timed_from(cls, model, *a, **kw):
        marks["base_built"] = rss()  # the PeftModel's base model, before any adapter
        t = time.perf_counter()
        inside.append(1)
        try:
            out = orig_from(cls, model, *a, **kw)
        finally:
            inside.pop()
        loads.append({"s": time.perf_counter() - t, "rss": rss()})
        return out

    def timed_load(self, *a, **kw):
        t = time.perf_counter()
        out = orig_load(self, *a, **kw)
        if not inside:  # from_pretrained loads its adapter through load_adapter: counted there
            loads.append({"s": time.perf_counter() - t, "rss": rss()})
        return out

    def timed_adapters_load(spec_, adapters_):
        marks["main_loaded"] = rss()
        t = time.perf_counter()
        out = orig_adapters_load(spec_, adapters_)
        marks["adapters_load_s"] = time.perf_counter() - t
        return out

    peft.PeftModel.from_pretrained = classmethod(timed_from)
    peft.PeftModel.load_adapter = timed_load
    serving_adapters.load = timed_adapters_load

    api = PredictAPI(spec, max_batch_size=32, adapters=chosen)  # serve.py's PredictAPI
    api.request_timeout = 600
    t = time.perf_counter()
    api.setup("cpu")  # the worker's background load (threads=1)
    assert api._ready.wait(600) and api.health(), api.load_error()
    setup_s = time.perf_counter() - t
    peft.PeftModel.from_pretrained, peft.PeftModel.load_adapter = classmethod(orig_from), orig_load
    serving_adapters.load = orig_adapters_load
    rss_loaded = rss()

    # One request to the main model and one to an adapter: the weights are memory-mapped by
    # from_pretrained, so RSS counts them once a forward pass has touched them.
    probe = [{"adapter": None, "items": [{"text": "Mutations in BRCA1 cause breast cancer ."}]}]
    probe += [{"adapter": names[0], "items": probe[0]["items"]}] if names else []
    api.predict(probe)
    rss_warm = rss()
    out = {"n": len(names), "rss_start": rss_start, "rss_imports": rss_imports, "rss_main": marks.get("main_loaded"),
           "rss_peft_base": marks.get("base_built"), "rss_loaded": rss_loaded, "rss_warm": rss_warm, "loads": loads,
           "setup_s": setup_s, "adapters_load_s": marks.get("adapters_load_s"),
           "main_params": sum(p.numel() for p in api.predictor.backend.model.parameters())}
    if names:
        shared = api.backends[names[0]].shared.model
        # AdapterBackend.logits calls set_adapter before every forward pass: its cost alone, per N
        switch = []
        for i in range(40):
            t = time.perf_counter()
            shared.set_adapter(names[i % len(names)])
            switch.append(time.perf_counter() - t)
        out["set_adapter_s"] = statistics.median(switch)
        param_bytes = {name: sum(p.numel() * p.element_size() for n, p in shared.named_parameters()
                                 if f".{name}." in n or n.endswith(f".{name}")) for name in names[:4]}
        out.update(param_bytes=param_bytes, adapter_params={k: v // 4 for k, v in param_bytes.items()},
                   file_bytes_median=statistics.median(
                       os.path.getsize(Path(all_adapters[k]) / "adapter_model.safetensors") for k in names),
                   peft_base_params=sum(p.numel() for n, p in shared.named_parameters()
                                        if "lora_" not in n and "modules_to_save" not in n))
    if args.child_latency:
        out["latency"] = latency(api, names, args)
        out["rss_after_latency"] = rss()
    return out


def latency(api, names: list[str], args) -> dict:
    texts = _texts(api.served, args)
    single = texts[: args.single]
    batches = [texts[i:i + 32] for i in range(0, 32 * args.batches, 32)]
    turn = {"b1": 0, "b32": 0}

    def nxt(key: str) -> str:
        name = names[turn[key] % len(names)]
        turn[key] += 1
        return name

    def one(adapter_of):
        times = []
        for text in single:
            req = [{"adapter": adapter_of(), "items": [{"text": text}]}]
            t = time.perf_counter()
            api.predict(req)
            times.append(time.perf_counter() - t)
        return times

    def thirty_two(adapters_of):
        times = []
        for batch in batches:
            chosen = adapters_of()
            req = [{"adapter": a, "items": [{"text": text}]} for a, text in zip(chosen, batch)]
            t = time.perf_counter()
            api.predict(req)
            times.append(time.perf_counter() - t)
        return times

    k32 = min(32, len(names))
    configs = {
        ("1", "merged main model"): lambda: one(lambda: None),
        ("1", "one unmerged adapter (a0)"): lambda: one(lambda: names[0]),
        ("1", f"alternating: next of {len(names)} adapters per request"): lambda: one(lambda: nxt("b1")),
        ("32", "merged main model"): lambda: thirty_two(lambda: [None] * 32),
        ("32", "one unmerged adapter (a0)"): lambda: thirty_two(lambda: [names[0]] * 32),
        ("32", f"switching: next of {len(names)} adapters per batch"): lambda: thirty_two(lambda: [nxt("b32")] * 32),
        ("32", f"alternating within the batch: {k32} adapters"): lambda: thirty_two(
            lambda: [names[i % k32] for i in range(32)]),
    }
    # sanity: the adapters answer differently from the main model (else the timings compare nothing)
    items = [{"text": t} for t in single[:8]]
    answers = api.predict([{"adapter": a, "items": items} for a in (None, names[0], names[-1])])
    spans = lambda a: [[(e["label"], e["start"], e["end"]) for e in p["entities"]] for p in a["predictions"]]  # noqa: E731
    differ = {"a0_equals_main": spans(answers[1]) == spans(answers[0]),
              "last_differs": spans(answers[2]) != spans(answers[0])}
    for run in configs.values():  # warm-up
        run()
    keys = list(configs)
    med = {k: [] for k in keys}
    for r in range(args.repeats):
        for k in keys[r % len(keys):] + keys[: r % len(keys)]:
            med[k].append(statistics.median(configs[k]()))
        print(f"round {r + 1}: " + ", ".join(f"{k[0]}/{k[1][:12]} {1000 * med[k][-1]:.1f}ms" for k in keys), flush=True,
              file=sys.stderr)
    return {"rows": [[k[0], k[1], statistics.median(v), v] for k, v in med.items()], "single": len(single),
            "batches": len(batches), "differ_from_main": differ, "texts": len(texts)}


def _texts(spec, args) -> list[str]:
    from tunelab.serving.loading import load_tokenizer

    dm = _common.data_module(spec, args.data, args.data_dir, load_tokenizer(spec))
    return [_common.item_text(r)["text"] for r in dm.records["test"]]


# -- parent ------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default="minilm", help="the LoRA base (a zoo name / pkg: / folder)")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--counts", type=int, nargs="+", default=[0, 1, 4, 16, 64],
                    help="adapter counts; 0: the plain server, the baseline")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--latency-counts", type=int, nargs="*", default=None,
                    help="the N whose child also times requests (default: the largest)")
    ap.add_argument("--single", type=int, default=64, help="texts timed one request at a time per round")
    ap.add_argument("--batches", type=int, default=6, help="dynamic batches of 32 one-text requests per round")
    ap.add_argument("--data", default="ncbi_disease")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--workdir", default="/tmp/tunelab_bench_adapters")
    ap.add_argument("--out", default=None, help="markdown file (default: bench_adapters.md beside this script)")
    ap.add_argument("--render", action="store_true", help="only re-write the table from <workdir>/results.json")
    ap.add_argument("--load-note", default=None, help="what else ran on the machine, for the header")
    ap.add_argument("--command", default=None, help="with --render: the measuring run's arguments, for the header")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-spec", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-latency", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child is not None:
        print(json.dumps(child(args)))
        return

    work = Path(args.workdir)
    if args.render:  # the table again from a finished run's numbers (e.g. after editing its text)
        results = {int(k): v for k, v in json.loads((work / "results.json").read_text()).items()}
        measured = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime((work / "results.json").stat().st_mtime))
        sys.argv = [sys.argv[0]] + (args.command.split() if args.command else [])
        args.rendered_note = f"- measured: run finished {measured}; this table re-rendered from its results.json"
        write_table(Path(args.out) if args.out else HERE / "bench_adapters.md", args, work / "main" / "model", results)
        return
    t = time.perf_counter()
    main_folder, adapters = build(work, args.base, max(args.counts), args.rank)
    print(f"{len(adapters)} adapters + merged main model under {work} ({time.perf_counter() - t:.0f}s)", flush=True)
    spec_file = work / "folders.json"
    spec_file.write_text(json.dumps({"main": str(main_folder), "adapters": adapters}))
    results = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    for n in sorted(args.counts):
        cmd = [sys.executable, __file__, "--child", str(n), "--child-spec", str(spec_file), "--repeats", str(args.repeats),
               "--single", str(args.single), "--batches", str(args.batches), "--data", args.data]
        if args.data_dir:
            cmd += ["--data-dir", args.data_dir]
        if n in (args.latency_counts or [max(args.counts)]):
            cmd.append("--child-latency")
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        if proc.returncode:
            raise SystemExit(f"child N={n} failed ({proc.returncode})")
        results[n] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[n]
        print(f"N={n}: RSS {r['rss_loaded'] / 2**20:.0f} MB, warm {r['rss_warm'] / 2**20:.0f} MB, "
              f"adapters.load {r['adapters_load_s']}s", flush=True)
    (work / "results.json").write_text(json.dumps(results))  # --render re-writes the table from it
    out = Path(args.out) if args.out else HERE / "bench_adapters.md"
    write_table(out, args, main_folder, results)
    print(out.read_text())


def write_table(out: Path, args, main_folder, results: dict) -> None:
    from tunelab.run_info import machine_header

    MB = 2**20
    counts = sorted(n for n in results if n > 0)
    big = results[counts[-1]]
    total, available = mem_total()
    # marginal memory per adapter: the RSS slope over the adapters loaded after the first, largest child
    extra = [l["rss"] for l in big["loads"]]
    per_adapter_rss = (extra[-1] - extra[0]) / (len(extra) - 1) if len(extra) > 1 else float("nan")
    across = ((results[counts[-1]]["rss_warm"] - results[counts[0]]["rss_warm"]) /
              (counts[-1] - counts[0])) if len(counts) > 1 else float("nan")
    further_s = [l["s"] for l in big["loads"][1:]]
    param_b = statistics.median(big["param_bytes"].values())
    params = statistics.median(big["adapter_params"].values())
    zero = results.get(0)

    def s_(x, fmt="{:.2f}"):
        return "-" if x is None else fmt.format(x)

    lines = [
        f"# Several LoRA adapters in one serving process: memory, load time, latency ({args.base}, r={args.rank})", "",
        machine_header().rstrip(),
        f"- command: `{_common.command_line()}`",
        *([args.rendered_note] if getattr(args, "rendered_note", None) else []),
        f"- versions: {_common.versions()}",
        f"- adapters: {counts[-1]} peft LoRA adapters of `{args.base}` (all-MiniLM-L6-v2, 6 layers, hidden 384) with a "
        f"token-classification head for NCBI-disease's labels {LABELS}: r={args.rank}, alpha {2 * args.rank}, on "
        "query/value; A, B (≠ 0) and each adapter's copy of the head random (peft TOKEN_CLS saves the head with "
        "the adapter). Main model: adapter a0 merged and exported as export.py does. Built under "
        f"{Path(args.workdir)} (not committed)",
        "- each N: a fresh child process running serve.py's worker path (`adapters.describe`, then "
        "`PredictAPI(spec, adapters=...).setup('cpu')`: `Predictor.from_spec` on the merged model, then "
        "`adapters.load` -> one PeftModel with every adapter; N=0: no adapters, the plain server); RSS from "
        "/proc/self/status; per-adapter load time from a timer around peft's `from_pretrained` (first adapter) / "
        "`load_adapter` (each further one). 'warm': after one request to the main model and one to a0 (from_pretrained "
        "memory-maps the base weights, so RSS counts them only once a forward pass has read them)",
        f"- RAM: {total / 2**30:.1f} GiB total, {available / 2**30:.1f} GiB available when the table was written "
        "(trainings on the same machine come and go: the available figure moves by several GiB)",
        f"- load: {args.load_note}" if args.load_note else
        "- load: other work shared the 2 cores (a training run, other agents' benchmarks and tests), 1 torch thread "
        "here: absolute times are inflated; ratios within one child (same process, rounds rotating) are the comparison",
        "",
        "## Memory and load time per N",
        "",
        "| adapters N | RSS MB after imports | after loading | warm | warm − N=0 | adapters.load s (base + N) | "
        "first adapter s | each further adapter s (median) | set_adapter ms (median) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n in sorted(results):
        r = results[n]
        fur = [l["s"] for l in r["loads"][1:]]
        lines.append(f"| {n} | {r['rss_imports'] / MB:.0f} | {r['rss_loaded'] / MB:.0f} | {r['rss_warm'] / MB:.0f} | "
                     f"{s_((r['rss_warm'] - zero['rss_warm']) / MB if zero else None, '{:+.0f}')} | "
                     f"{s_(r['adapters_load_s'])} | {s_(r['loads'][0]['s'] if r['loads'] else None, '{:.3f}')} | "
                     f"{s_(statistics.median(fur) if fur else None, '{:.3f}')} | "
                     f"{s_(1000 * r['set_adapter_s'] if 'set_adapter_s' in r else None, '{:.2f}')} |")
    base_cost = (results[counts[0]]["rss_warm"] - zero["rss_warm"]) if zero else None
    n_fit = (available - big["rss_warm"]) / per_adapter_rss + counts[-1] if per_adapter_rss > 0 else float("inf")
    n_fit_total = (total - big["rss_warm"]) / per_adapter_rss + counts[-1] if per_adapter_rss > 0 else float("inf")
    # load time of the k-th adapter grows with k (peft walks every loaded adapter): least squares s_k = a + b k
    ks = list(range(1, len(further_s) + 1))
    kbar, sbar = statistics.mean(ks), statistics.mean(further_s)
    b = sum((k - kbar) * (x - sbar) for k, x in zip(ks, further_s)) / sum((k - kbar) ** 2 for k in ks)
    a = sbar - b * kbar
    load_m = lambda m: a * m + b * m * m / 2  # noqa: E731  (sum of a + b k for k < m)
    half = len(further_s) // 2
    lines += [
        "",
        f"- per adapter: {params:,.0f} parameters = {param_b / MB:.3f} MB fp32 in memory (LoRA A and B on 12 matrices "
        f"+ its own copy of the head), {big['file_bytes_median'] / MB:.3f} MB on disk (adapter_model.safetensors)",
        f"- measured RSS per further adapter: **{per_adapter_rss / MB:.3f} MB** (slope over the {len(extra) - 1} "
        f"adapters loaded after the first, N={counts[-1]} child); {across / MB:.3f} MB across children (warm RSS at "
        f"N={counts[-1]} minus N={counts[0]}, / {counts[-1] - counts[0]})",
        f"- the fixed cost of serving adapters at all: the PeftModel is built on its own copy of the base, next to the "
        f"merged main model ({big['peft_base_params']:,} base parameters = {big['peft_base_params'] * 4 / MB:.0f} MB "
        f"fp32)" + (f": warm RSS with 1 adapter − with none = **{base_cost / MB:+.0f} MB** (the weights are "
                    "memory-mapped: embedding rows no text has used are not resident)" if base_cost is not None else ""),
        f"- load time per further adapter grows with the adapters already loaded, as `set_adapter`'s does (peft's "
        f"`set_adapter` visits every adapter of every LoRA layer): in the N={counts[-1]} child adapters 2-{half + 1} took "
        f"median {statistics.median(further_s[:half]):.3f} s each, adapters {half + 2}-{counts[-1]} "
        f"{statistics.median(further_s[half:]):.3f} s; least squares over the {len(further_s)}: {a * 1000:.1f} ms + "
        f"{b * 1000:.2f} ms × k for the adapter loaded with k already there; {sum(further_s):.1f} s in all",
        f"- `set_adapter` (run before every forward pass of an adapter, AdapterBackend.logits) grows the same way: see "
        "the last column",
        "",
        "### How many fit",
        "",
        f"Memory: {counts[-1]} + (RAM available {available / 2**30:.1f} GiB − the warm N={counts[-1]} process "
        f"{big['rss_warm'] / MB:.0f} MB) / {per_adapter_rss / MB:.3f} MB per adapter ≈ **{n_fit:,.0f} adapters** in one "
        f"worker with the RAM available when this table was written ({n_fit_total:,.0f} on all {total / 2**30:.1f} GiB; each worker "
        "process holds its own copy: divide by workers). Memory is not what limits it first. Load time and the "
        f"per-request switch are: extrapolating the linear growth above, loading M adapters takes ≈ "
        f"{a * 1000:.0f} ms × M + {b * 1000:.2f} ms × M²/2 — {load_m(256) / 60:.1f} min for 256, "
        f"{load_m(1000) / 60:.0f} min for 1,000, {load_m(10000) / 3600:.0f} h for 10,000 (measured only to "
        f"N={counts[-1]}), and every request to an adapter pays a `set_adapter` that also grows with N. "
        "In practice: tens to a few hundred adapters per worker, not thousands.",
    ]
    for n_lat in counts:
        lat = results[n_lat].get("latency")
        if not lat:
            continue
        rows = lat["rows"]
        ref = {b: next(r[2] for r in rows if r[0] == b and r[1] == "merged main model") for b in ("1", "32")}
        lines += [
            "",
            f"## Latency of PredictAPI.predict (N={n_lat} adapter{'s' if n_lat > 1 else ''} loaded)",
            "",
            f"- {lat['texts']} NCBI-disease test sentences; batch 1: the first {lat['single']} as one-text requests; "
            f"batch 32: {lat['batches']} dynamic batches of 32 consecutive sentences as one-text requests; "
            f"{args.repeats} rounds, the order of the rows rotating per round; ms = median over rounds of the round's "
            "median call; texts/s = texts per call / that; 'time vs merged': ms / the merged row's ms (same batch)",
            f"- check on 8 sentences: a0 (the adapter merged into the main model) gives the main model's entities: "
            f"{lat['differ_from_main']['a0_equals_main']}" + (
                f"; a{n_lat - 1} gives other entities: {lat['differ_from_main']['last_differs']}" if n_lat > 1 else ""),
            "",
            "| batch | requests name | ms / call | texts/s | time vs merged | per-round medians ms |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for b, name, med, per in rows:
            lines.append(f"| {b} | {name} | {1000 * med:.1f} | {int(b) / med:.1f} | {med / ref[b]:.2f}x | "
                         f"{', '.join(f'{1000 * x:.1f}' for x in per)} |")
        lines.append(f"- RSS after the latency rounds: {results[n_lat]['rss_after_latency'] / MB:.0f} MB")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
