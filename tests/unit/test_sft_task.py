"""Instruction tuning (tasks/sft.py, issue 18): prompt masking, the chat template round trip,
packing that never attends across examples, memorising pairs, batched greedy replies.
Tiny random Llama models and a tiny byte-level BPE tokenizer with a ChatML template (no download)."""

from __future__ import annotations

import pytest
import torch

from tests.unit.test_clm_pretrained import CHAT_TEMPLATE, _llama
from tunelab import tasks
from tunelab.assistant.textgen import generate_replies
from tunelab.data.collate import IGNORE, PadCollator
from tunelab.errors import ConfigError, DataError
from tunelab.tasks.sft import encode_pair, pack_rows, pair_ids, prompt_ids, prompt_text

PAIRS = [{"prompt": "cancel order", "response": "I cancel order {{Order Number}} now", "group": "cancel_order"},
         {"prompt": "track my parcel", "response": "Track it on {{Website URL}} please", "group": "track"},
         {"prompt": "refund please", "response": "Your refund goes to {{Card}}", "group": "refund"}]


def _chat_tokenizer():
    from tunelab.data.tokenizer_training import train_byte_bpe

    text = [f"{p['prompt']} {p['response']} system user assistant You are helpful" for p in PAIRS]
    tok = train_byte_bpe(text * 20, 400)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.eos_token, tok.bos_token, tok.pad_token = "<|im_end|>", "<|im_start|>", None
    tok.chat_template = CHAT_TEMPLATE
    return tok


@pytest.fixture(scope="module")
def tok():
    return _chat_tokenizer()


def test_only_response_tokens_carry_loss(tok):
    task = tasks.get("sft")
    (item,) = task.encode(PAIRS[:1], tok, {}, max_length=128)
    head = prompt_ids(tok, PAIRS[0]["prompt"])
    labels = item["labels"]
    assert labels[: len(head)] == [IGNORE] * len(head)  # system turn, user turn, "<|im_start|>assistant\n"
    answer = [t for t in labels if t != IGNORE]
    assert tok.decode(answer) == PAIRS[0]["response"] + "<|im_end|>"  # the reply and its EOS, nothing else
    assert answer == item["input_ids"][len(head):]
    # The loss really ignores the prompt: changing the prompt's labels would not change it.
    model = _llama(len(tok))
    batch = PadCollator(tok.pad_token_id)([item])
    out = model(input_ids=batch["input_ids"], labels=batch["labels"])
    logits = out.logits[0, len(head) - 1:-1]
    manual = torch.nn.functional.cross_entropy(logits, torch.tensor(answer))
    assert out.loss.item() == pytest.approx(manual.item(), rel=1e-5)


def test_chat_template_round_trip(tok):
    head, tail = pair_ids(tok, PAIRS[1]["prompt"], PAIRS[1]["response"])
    full = tok.apply_chat_template([{"role": "user", "content": PAIRS[1]["prompt"]},
                                    {"role": "assistant", "content": PAIRS[1]["response"]}], tokenize=False)
    # prompt + reply decode to the template's whole conversation, less the newline after <|im_end|>
    assert tok.decode(head + tail) == full.rstrip("\n")
    assert tok.decode(head) == prompt_text(tok, PAIRS[1]["prompt"]) == full[: len(tok.decode(head))]
    assert tok.decode(tail) == PAIRS[1]["response"] + "<|im_end|>"  # slots such as {{Website URL}} survive
    # generation starts from the very ids training conditioned on
    enc = tok.apply_chat_template([{"role": "user", "content": PAIRS[1]["prompt"]}], add_generation_prompt=True,
                                  tokenize=True, return_dict=True)
    assert list(enc["input_ids"]) == head


def test_packing_never_attends_across_examples(tok):
    items = tasks.get("sft").encode(PAIRS, tok, {}, max_length=128)
    rows = pack_rows(items, max_length=128, pad_id=tok.pad_token_id or 0)
    assert len(rows) == 1 and len(rows[0]["input_ids"]) == 128 and "attention_mask" not in rows[0]
    model = _llama(len(tok), max_positions=128).eval()
    ids, pos = torch.tensor([rows[0]["input_ids"]]), torch.tensor([rows[0]["position_ids"]])
    # use_cache=False, as builders sets for sft: with a cache object transformers 5 skips the
    # packed-sequence mask (masking_utils: only when attention_mask and past_key_values are None).
    packed = model(input_ids=ids, position_ids=pos, use_cache=False).logits[0]
    start = 0
    for it in items:
        alone = model(input_ids=torch.tensor([it["input_ids"]])).logits[0]
        n = len(it["input_ids"])
        torch.testing.assert_close(packed[start:start + n], alone, atol=1e-5, rtol=1e-4)
        start += n
    # A row without position restarts (plain concatenation) does attend across: the check has teeth.
    n0 = len(items[0]["input_ids"])
    for leaky in (model(input_ids=ids).logits[0], model(input_ids=ids, position_ids=pos).logits[0]):
        assert not torch.allclose(leaky[n0:n0 + 5], packed[n0:n0 + 5], atol=1e-3)
    # Labels: the same response tokens, and every segment starts with an ignored (prompt) token.
    assert [t for t in rows[0]["labels"] if t != IGNORE] == [t for it in items for t in it["labels"] if t != IGNORE]
    assert all(rows[0]["labels"][i] == IGNORE for i, p in enumerate(rows[0]["position_ids"]) if p == 0)


def test_packing_through_the_task_option_fills_rows(tok):
    rows = tasks.get("sft").encode(PAIRS * 4, tok, {}, max_length=96, pack=True)
    assert all(len(r["input_ids"]) == 96 == len(r["position_ids"]) == len(r["labels"]) for r in rows)
    assert len(rows) < 12


def test_a_tiny_model_memorises_three_pairs_and_replies_greedily(tok):
    torch.manual_seed(0)
    model = _llama(len(tok), max_positions=128)
    items = tasks.get("sft").encode(PAIRS, tok, {}, max_length=128)
    tok.pad_token = tok.eos_token
    batch = PadCollator(tok.pad_token_id)(items)
    batch.pop("truncated")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    model.train()
    for _ in range(150):
        loss = model(**batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    model.eval()
    replies, stats = generate_replies(model, tok, [p["prompt"] for p in PAIRS], max_new_tokens=24, batch_size=3)
    assert replies == [p["response"] for p in PAIRS]
    one_by_one, _ = generate_replies(model, tok, [p["prompt"] for p in PAIRS], max_new_tokens=24, batch_size=1)
    assert one_by_one == replies  # left padding + attention mask: batching changes nothing
    assert stats["new_tokens"] == sum(len(pair_ids(tok, p["prompt"], p["response"])[1]) for p in PAIRS)


def test_bad_sft_input_is_one_line(tok):
    task = tasks.get("sft")
    with pytest.raises(ConfigError, match=r"^data.source: table gives \['label', 'text'\] records, task 'sft' needs \['prompt', 'response'\]$"):
        task.check_records({"train": [{"text": "a", "label": "b"}]}, "table")
    with pytest.raises(DataError, match=r"^bitext: record 1 of split 'train' has an empty prompt or response$"):
        task.check_records({"train": [{"prompt": "q", "response": "  "}]}, "bitext")
    with pytest.raises(ConfigError, match=r"^method.name: adapter cannot serve sft: "):
        task.check_method("adapter")
    assert encode_pair(tok, {"prompt": "refund please " * 40, "response": "x"}, 16) is None  # prompt fills it


def test_lora_for_sft_trains_only_the_adapters_not_the_tied_head(tok):
    from tunelab.methods import apply_method

    lora = {"name": "lora", "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "auto", "bias": "none"}
    model = apply_method(_llama(len(tok)), lora, "sft")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable), trainable


@pytest.mark.parametrize("method", ["lora", "adalora", "ia3", "prefix_tuning", "prompt_tuning"])
def test_every_peft_method_sft_offers_trains_on_a_masked_batch(tok, method):
    """The methods the task lists all take an sft batch (labels -100 on the prompt) and learn."""
    from tunelab.methods import apply_method

    cfg = {"name": method, "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "auto", "bias": "none",
           "num_virtual_tokens": 4, "total_step": 10, "init_r": 4, "target_r": 2, "tinit_ratio": 0.1,
           "tfinal_ratio": 0.2, "deltaT": 2, "orth_reg_weight": 0.5}
    assert method in tasks.get("sft").methods
    model = apply_method(_llama(len(tok), max_positions=160), cfg, "sft")
    tok.pad_token = tok.eos_token
    batch = PadCollator(tok.pad_token_id)(tasks.get("sft").encode(PAIRS, tok, {}, max_length=128))
    batch.pop("truncated")
    loss = model(**batch).loss
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert torch.isfinite(loss) and grads and all(g is not None for g in grads)
