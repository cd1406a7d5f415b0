"""Cost of assistant training and generation on real data, in a few capped steps (issue 18).

    python -m tunelab.assistant.bench --data bitext_sft --model smollm2_135m --method full|lora \
        [--steps 6] [--batch-size 8] [--gen-prompts 8] [--max-new-tokens 64] [--threads 1] --out FILE.json

Training: ``--steps`` optimizer steps (after one warm-up step) on batches built exactly as
training builds them (the task's encoding, the seeded length-grouped sampler, dynamic padding);
tokens/s counts real (non-padding) tokens. Generation: greedy with the KV cache on the first
``--gen-prompts`` test questions at batch 1 and batch 8; tokens/s counts generated tokens.
Peak memory is the process's (and the GPU's where one ran); ``--dtype bf16`` on a GPU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from tunelab import tasks
from tunelab.assistant import costs
from tunelab.assistant.data import capped, split_records
from tunelab.assistant.textgen import generate_replies
from tunelab.data.collate import PadCollator
from tunelab.data.samplers import SeededBatchSampler
from tunelab.methods import apply_method
from tunelab.models.backbone import build_lm_model, build_tokenizer
from tunelab.optim import build_optimizer
from tunelab.tasks.sft import InstructionTuning

SFT = InstructionTuning.name  # the registry promise: the task name is spelled only in its own file

LORA = {"name": "lora", "r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "auto", "bias": "none"}


def train_speed(model, tokenizer, records, steps: int, batch_size: int, max_length: int, device) -> dict:
    task = tasks.get(SFT)
    items = task.encode(records, tokenizer, {}, max_length)
    sampler = SeededBatchSampler([task.length(i) for i in items], batch_size, seed=42, shuffle=True,
                                 group_by_length=True, drop_uneven=True)
    collate = PadCollator(tokenizer.pad_token_id)
    opt, _ = build_optimizer(model, {"lr": 1e-5, "weight_decay": 0.01, "betas": [0.9, 0.999], "eps": 1e-8,
                                     "warmup_ratio": 0.0}, steps + 1)
    model.train()
    tokens, seconds = 0, 0.0
    for n, idx in enumerate(sampler):
        if n > steps:
            break
        batch = collate([items[i] for i in idx])
        batch.pop("truncated", None)
        batch = {k: v.to(device) for k, v in batch.items()}
        started = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if n:  # step 0 warms up (allocations, optimizer state)
            seconds += time.perf_counter() - started
            tokens += int(batch["attention_mask"].sum())
    return {"steps": steps, "batch_size": batch_size, "tokens": tokens, "seconds": seconds,
            "tokens_per_s": tokens / max(seconds, 1e-9), "s_per_step": seconds / max(steps, 1),
            "tokens_per_step": tokens / max(steps, 1), "train_examples": len(items)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m tunelab.assistant.bench", description=__doc__.split("\n")[0])
    p.add_argument("--data", default="bitext_sft")
    p.add_argument("--model", default="smollm2_135m")
    p.add_argument("--method", default="full", choices=["full", "lora"])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=384)
    p.add_argument("--gen-prompts", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    from tunelab.quiet import quiet

    quiet()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tokenizer = build_tokenizer({"name_or_path": args.model})
    model = build_lm_model({"name_or_path": args.model}, SFT, tokenizer)
    model.config.use_cache = False
    if args.dtype == "bf16":
        model = model.to(torch.bfloat16)
    if args.method == "lora":
        model = apply_method(model, LORA, SFT)
    model.to(device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    train = train_speed(model, tokenizer, capped(split_records(args.data, "train"), 400),
                        args.steps, args.batch_size, args.max_length, device)
    model.eval()
    model.config.use_cache = True
    prompts = [r["prompt"] for r in capped(split_records(args.data, "test"), args.gen_prompts)]
    gen = {}
    for bs in (1, 8):
        _, stats = generate_replies(model, tokenizer, prompts, args.max_new_tokens, bs)
        gen[f"batch{bs}"] = stats
    out = {"model": args.model, "method": args.method, "dtype": args.dtype, "device": str(device),
           "trainable_params": trainable, "train": train, "generation": gen, **costs.peak_memory(),
           "machine": costs.machine()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({"train_tokens_per_s": train["tokens_per_s"], "s_per_step": train["s_per_step"],
                      **{f"gen_{k}_tokens_per_s": v["tokens_per_s"] for k, v in gen.items()},
                      "peak_rss_mb": out["peak_rss_mb"]}))


if __name__ == "__main__":
    main()
