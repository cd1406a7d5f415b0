"""Score an assistant model's greedy replies on a data config's test split (issue 18).

    python -m tunelab.assistant.evaluate --model smollm2_135m --data bitext_sft --out DIR \
        [--cap 150] [--max-new-tokens 128] [--batch-size 8] [--index IDX --k 2] \
        [--intent-model RUN_DIR] [--samples 10] [--threads 1]

Writes DIR/metrics.json (ROUGE-L, BLEU, intent accuracy, generation tokens/s, peak memory,
the decoding settings), DIR/run_info.json (the command's settings, git commit), DIR/samples.jsonl
(the first ``--samples`` replies beside their references) and DIR/replies.jsonl (all of them).
``--model`` is anything generate.py loads: a zoo name (the base instruct model: the zero-shot
baseline), a run folder or its hf_model (LoRA adapters are merged). ``--index``: retrieval-augmented
prompts with the top ``--k`` answers of the training pairs (the test question itself is never in
the index: it is built from the training split).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from tunelab import run_info
from tunelab.assistant import costs, scoring
from tunelab.assistant.data import capped, split_records
from tunelab.assistant.rag import rag_prompt
from tunelab.assistant.textgen import generate_replies
from tunelab.errors import ConfigError, TunelabError


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tunelab.assistant.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True, help="a data config of task sft (bitext_sft, medquad_sft)")
    p.add_argument("--out", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--cap", type=int, default=None, help="a seeded sample of this many records (default: all)")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--index", default=None, help="a retrieval index (python -m tunelab.assistant.build_index)")
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--intent-model", default=None, help="an intent_bitext run: the intent of each reply")
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=42, help="the data split's seed (as in training)")
    return p.parse_args(argv)


def evaluate(args: argparse.Namespace) -> dict:
    from tunelab.generation import load
    from tunelab.quiet import quiet

    quiet()
    torch.set_num_threads(args.threads)
    if args.cap is not None and args.cap < 1 or args.max_new_tokens < 1 or args.batch_size < 1 or args.k < 1:
        raise ConfigError("cap, max-new-tokens, batch-size, k: must be >= 1")
    out = Path(args.out)
    records = capped(split_records(args.data, args.split, seed=args.seed), args.cap)
    prompts = [r["prompt"] for r in records]
    retrieved: list[list[dict]] = [[] for _ in records]
    if args.index:
        from tunelab.assistant.retrieval import Index, embedder_for, retrieve

        index = Index.load(args.index)
        retrieved = retrieve(index, embedder_for(index), prompts, k=args.k)
        prompts = [rag_prompt(p, hits) for p, hits in zip(prompts, retrieved)]
    tokenizer, model = load(args.model)
    replies, speed = generate_replies(model, tokenizer, prompts, args.max_new_tokens, args.batch_size)
    refs = [r["response"] for r in records]
    metrics = {"rouge_l": scoring.rouge_l(replies, refs), "bleu": scoring.bleu(replies, refs),
               "n": len(records), "generation": speed, **costs.peak_memory(),
               "decoding": {"greedy": True, "max_new_tokens": args.max_new_tokens, "kv_cache": True,
                            "batch_size": args.batch_size, "rag_k": args.k if args.index else 0}}
    intents = None
    if args.intent_model:
        from tunelab.assistant.intent import IntentJudge, intent_accuracy

        if "intent" not in records[0]:
            raise ConfigError(f"intent-model: {args.data} records carry no intent to compare with")
        intents = IntentJudge(args.intent_model)(replies)
        metrics["intent_acc"] = intent_accuracy(intents, [r["intent"] for r in records])
        metrics["intent_acc_references"] = intent_accuracy(IntentJudge(args.intent_model)(refs),
                                                           [r["intent"] for r in records])  # the judge's own ceiling
    out.mkdir(parents=True, exist_ok=True)
    rows = [{"question": r["prompt"], "reference": r["response"], "reply": reply, "group": r.get("group"),
             **({"predicted_intent": intents[i]} if intents else {}),
             **({"retrieved": [h["group"] for h in retrieved[i]]} if args.index else {})}
            for i, (r, reply) in enumerate(zip(records, replies))]
    (out / "replies.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    (out / "samples.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows[: args.samples]))
    run_info.write_json(out / "run_info.json", {"args": vars(args), "git_commit": run_info.git_commit(),
                                                "machine": costs.machine(), "finished": time.strftime("%Y-%m-%d %H:%M")})
    run_info.write_json(out / "metrics.json", metrics)  # last: its presence means the run finished
    return metrics


def main(argv=None) -> None:
    try:
        metrics = evaluate(parse(argv))
    except TunelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}))


if __name__ == "__main__":
    main()
