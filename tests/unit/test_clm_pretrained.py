"""Causal LMs from a pretrained folder in the pretraining path (issue 14): LoRA through the clm
objective, padding vs EOS labels, block size within the model's positions, and generate.py's chat
template. Tiny random Llama models and a tiny byte-level BPE tokenizer only (no download)."""

from __future__ import annotations

import json

import lightning.pytorch as L
import pytest
import torch

from tunelab import tasks
from tunelab.data.collate import IGNORE
from tunelab.errors import ConfigError
from tunelab.methods import apply_method
from tunelab.modules.pretrain import PretrainModule, clip_block_size, max_block_size

TEXT = ["the patient was treated for asthma with inhaled steroids",
        "diabetes mellitus is managed with insulin and diet"]
# The shape of SmolLM2's template (ChatML): a default system turn when none is given.
CHAT_TEMPLATE = ("{% for m in messages %}{% if loop.first and m['role'] != 'system' %}"
                 "{{ '<|im_start|>system\nYou are helpful<|im_end|>\n' }}{% endif %}"
                 "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
                 "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def _tokenizer(chat: bool = False):
    """Llama-like: EOS is <|im_end|>, no pad token; ``chat``: with a ChatML template."""
    from tunelab.data.tokenizer_training import train_byte_bpe

    tok = train_byte_bpe(TEXT * 5, 300)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.eos_token = "<|im_end|>"
    tok.bos_token = "<|im_start|>"
    tok.pad_token = None
    if chat:
        tok.chat_template = CHAT_TEMPLATE
    return tok


@pytest.fixture(scope="module")
def tok():
    return _tokenizer()


def _llama(vocab: int, max_positions: int = 64):
    """A tiny random Llama with tied embeddings; weights 10x the usual init scale, so that (like a
    trained model, unlike a fresh one) its attention is not a near-constant that rank-8 updates of
    q/k/v/o cannot move within 20 steps (measured: loss 5.73 -> 5.54 at init 0.02, 6.42 -> 2.73 at 0.2)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
                         tie_word_embeddings=True, initializer_range=0.2)
    model = LlamaForCausalLM(config)
    model.tunelab_fresh_params = []  # what build_lm_model sets on a loaded model: nothing was fresh
    return model


LORA = {"name": "lora", "r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "auto", "bias": "none"}


def test_lora_on_a_causal_lm_trains_only_the_adapters_and_lowers_the_loss(tok):
    task = tasks.get("clm")
    task.check_tokenizer(tok)
    ids = tok("\n".join(TEXT * 4), add_special_tokens=False)["input_ids"]
    blocks = [torch.tensor(ids[i:i + 16]) for i in range(0, len(ids) - 16, 16)][:8]
    model = apply_method(_llama(len(tok)), LORA, "clm")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable), trainable
    # the four attention projections of both layers, and nothing of the tied embeddings / LM head
    assert {n.split(".")[-4] for n in trainable} == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert len(trainable) == 2 * 4 * 2
    module = PretrainModule(model, "clm", {"lr": 3e-2, "weight_decay": 0.0, "warmup_ratio": 0.0})
    loader = torch.utils.data.DataLoader(blocks, batch_size=4, shuffle=False, collate_fn=task.collator(tok))
    batch = next(iter(loader))
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    with torch.no_grad():
        before, n = module.lm_loss(batch)
    assert n == 4 * 15  # every label but the first of each row is a target
    L.Trainer(max_steps=20, accelerator="cpu", logger=False, enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False).fit(module, loader)
    with torch.no_grad():
        after, _ = module.lm_loss(batch)
    assert float(after) < 0.6 * float(before), (float(before), float(after))
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)


def test_padding_gets_ignored_labels_but_a_real_eos_keeps_its_label(tok):
    task = tasks.get("clm")
    task.check_tokenizer(tok)  # Llama-style: no pad token, so EOS pads
    eos = tok.eos_token_id
    assert tok.pad_token_id == eos
    collate = task.collator(tok)
    a, b = [5, 6, eos, 7, 8, eos], [9, eos, 10]
    batch = collate([torch.tensor(a), torch.tensor(b)])
    assert batch["input_ids"][1].tolist() == [9, eos, 10, eos, eos, eos]
    assert batch["attention_mask"].tolist() == [[1] * 6, [1, 1, 1, 0, 0, 0]]
    assert batch["labels"][0].tolist() == a  # both EOS separators are predicted
    assert batch["labels"][1].tolist() == [9, eos, 10, IGNORE, IGNORE, IGNORE]
    # full blocks (the pretraining data) need no padding: labels are the inputs, EOS included
    full = collate([torch.tensor(a), torch.tensor(a[::-1])])
    assert torch.equal(full["labels"], full["input_ids"]) and bool(full["attention_mask"].all())
    # the loss counts exactly the predicted (non-ignored, shifted) labels
    _, n = task.loss(_llama(len(tok)), batch, None)
    assert n == 5 + 2


class _Data:
    def __init__(self, block_size: int) -> None:
        self.block_size, self.meta = block_size, {"block_size": block_size}


def test_block_size_is_clipped_to_the_positions_the_model_can_embed(tok):
    model = _llama(len(tok), max_positions=32)
    assert max_block_size(model) == 32
    dm = _Data(256)
    assert clip_block_size(dm, model) == 32 and dm.block_size == 32
    assert dm.meta == {"block_size": 32, "block_size_requested": 256}
    dm = _Data(16)
    assert clip_block_size(dm, model) == 16 and dm.meta == {"block_size": 16}
    # prompt tuning prepends its virtual tokens: they take positions too
    prompt = apply_method(_llama(len(tok), max_positions=32), {"name": "prompt_tuning", "num_virtual_tokens": 5}, "clm")
    assert max_block_size(prompt) == 27


def test_methods_that_cannot_serve_a_causal_lm_say_why_in_one_line():
    clm = tasks.get("clm")
    for method in ("lora", "adalora", "ia3", "prefix_tuning", "prompt_tuning", "full"):
        clm.check_method(method)
    for method in ("head_only", "adapter"):
        with pytest.raises(ConfigError, match=rf"^method.name: {method} cannot serve clm: .*; use one of adalora, full,") as err:
            clm.check_method(method)
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"^method.total_step: AdaLoRA needs .*set method.total_step"):
        apply_method(_llama(50), {"name": "adalora", "init_r": 4, "target_r": 2, "tinit_ratio": 0.1,
                                  "tfinal_ratio": 0.2, "deltaT": 1, "alpha": 8, "dropout": 0.0,
                                  "target_modules": "auto", "total_step": None}, "clm")


def test_bert_lora_targets_on_llama_name_the_llama_default():
    with pytest.raises(ConfigError, match=r"method.target_modules: \['query', 'value'\] match no Linear layer; "
                                          r"candidates: .*self_attn.q_proj.*; for llama: "
                                          r"method.target_modules=\[q_proj,k_proj,v_proj,o_proj\]"):
        apply_method(_llama(50), {**LORA, "target_modules": ["query", "value"]}, "clm")


def test_pretrained_causal_lm_with_lora_through_train(tiny_cfg, tok, tmp_path):
    """The whole path: a pretrained Llama folder, data.task=clm, method=lora (auto targets), a block
    size above its positions (clipped); hf_model holds the merged model, hf_adapter the adapter."""
    from tunelab.generation import generate
    from tunelab.training import train

    folder = tmp_path / "llama"
    _llama(len(tok), max_positions=32).save_pretrained(folder)
    chat_tok = _tokenizer(chat=True)
    chat_tok.save_pretrained(folder)
    (tmp_path / "train.txt").write_text("\n".join(TEXT * 20) + "\n")
    (tmp_path / "valid.txt").write_text("\n".join(TEXT * 2) + "\n")
    metrics = train(tiny_cfg(
        "data=pubmed_text", "data.task=clm", f"model.name_or_path={folder}", "model.tokenizer=null",
        "model.from_scratch=null", "method=lora",
        "method.target_modules=auto", f"paths.data_dir={tmp_path}", "data.files.train=train.txt",
        "data.files.validation=valid.txt", "data.block_size=64", "data.batch_size=4",
        f"data.cache_dir={tmp_path / 'cache'}", "optimized_mode=min", "optim.lr=1e-2", "optim.warmup_ratio=0.0",
        "trainer.max_epochs=1", f"paths.output_dir={tmp_path / 'run'}"))
    assert metrics["val/perplexity"] > 1
    info = json.loads((tmp_path / "run" / "run_info.json").read_text())
    assert info["data"]["block_size"] == 32 and info["data"]["block_size_requested"] == 64
    assert info["data"]["separator"] == "<|im_end|>"
    assert 0 < info["parameters"]["trainable_pct"] < 50  # the adapters only (11% of this tiny model)
    # hf_model: the adapter merged into the base, a plain folder; hf_adapter: the adapter alone.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run = tmp_path / "run"
    assert (run / "hf_model" / "config.json").is_file() and not (run / "hf_model" / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(run / "hf_model").eval()
    unmerged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(folder), run / "hf_adapter").eval()
    ids = torch.tensor([tok("asthma and copd").input_ids])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, unmerged(ids).logits, atol=1e-5)
        base = AutoModelForCausalLM.from_pretrained(folder).eval()
        assert not torch.allclose(merged(ids).logits, base(ids).logits, atol=1e-3)  # it did train
    (reply,) = generate(str(run), ["asthma"], {"temperature": 0, "max_new_tokens": 4})
    assert isinstance(reply, str)
    # The adapter folder alone, moved to another machine (the base folder is gone): generate uses
    # the run's recorded model.name_or_path as the base.
    adapter = run / "hf_adapter" / "adapter_config.json"
    adapter.write_text(json.dumps({**json.loads(adapter.read_text()), "base_model_name_or_path": "/nowhere/llama"}))
    assert generate(str(run / "hf_adapter"), ["asthma"], {"temperature": 0, "max_new_tokens": 4}) == [reply]


# -- generate.py: the chat template -----------------------------------------------------------------
def test_chat_prompt_is_the_templates_ids_and_plain_prompt_is_tokenized_as_is():
    from tunelab.generation import encode_prompt

    chat = _tokenizer(chat=True)
    enc, used = encode_prompt(chat, "what is asthma?")
    expected = chat.apply_chat_template([{"role": "user", "content": "what is asthma?"}],
                                        add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    assert used and enc["input_ids"][0].tolist() == list(expected)
    assert chat.decode(enc["input_ids"][0]).endswith("<|im_start|>assistant\n")
    enc, _ = encode_prompt(chat, "what is asthma?", system="Be brief")
    assert chat.decode(enc["input_ids"][0]).startswith("<|im_start|>system\nBe brief<|im_end|>")
    plain_ids = chat("what is asthma?", add_special_tokens=False)["input_ids"]
    enc, used = encode_prompt(chat, "what is asthma?", chat_template=False)
    assert not used and enc["input_ids"][0].tolist() == plain_ids
    plain = _tokenizer(chat=False)
    enc, used = encode_prompt(plain, "what is asthma?")  # auto, no template: today's behaviour
    assert not used and enc["input_ids"][0].tolist() == plain("what is asthma?", add_special_tokens=False)["input_ids"]
    with pytest.raises(ConfigError, match="^chat_template: true, but the tokenizer of model_path has no chat template"):
        encode_prompt(plain, "hi", chat_template="true")
    with pytest.raises(ConfigError, match="^chat_template: 'maybe' is not one of auto, true, false"):
        encode_prompt(chat, "hi", chat_template="maybe")


def test_generate_applies_the_template_and_prints_the_reply_alone(tmp_path, monkeypatch):
    from tunelab import generation

    chat = _tokenizer(chat=True)
    _llama(len(chat)).save_pretrained(tmp_path)
    chat.save_pretrained(tmp_path)
    seen = []
    original = generation.encode_prompt

    def spy(*args, **kwargs):
        enc, used = original(*args, **kwargs)
        seen.append((enc["input_ids"][0].tolist(), used))
        return enc, used

    monkeypatch.setattr(generation, "encode_prompt", spy)
    (reply,) = generation.generate(str(tmp_path), ["hello"], {"temperature": 0, "max_new_tokens": 3})
    ids, used = seen[0]
    assert used and ids == list(chat.apply_chat_template([{"role": "user", "content": "hello"}],
                                                         add_generation_prompt=True, tokenize=True,
                                                         return_dict=True)["input_ids"])
    assert "assistant" not in reply and "hello" not in reply  # the reply alone, not the prompt
    (text,) = generation.generate(str(tmp_path), ["hello"], {"temperature": 0, "max_new_tokens": 3,
                                                             "chat_template": "false"})
    assert text.startswith("hello") and seen[-1][1] is False
