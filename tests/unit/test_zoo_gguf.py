"""GGUF -> Hugging Face folder: a tiny llama GGUF written here (no download) converts exactly.

The file is written the way llama.cpp's convert_hf_to_gguf.py writes a Llama: llama.cpp tensor
names, Q/K rows permuted for its rotary layout, a byte-level BPE vocabulary with merges, control
tokens, bos/eos/pad ids and a chat template. The converted folder must give back the weights and
logits of the HF model the file was made from, and the tokenizer transformers reads from the file.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

gguf = pytest.importorskip("gguf", reason="the gguf package converts GGUF files (pip install 'tunelab[zoo]')")

from safetensors import safe_open
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
)

from tunelab.errors import ConfigError, DataError
from tunelab.zoo.convert_gguf import convert

HEADS, KV_HEADS, HIDDEN, LAYERS = 4, 2, 32, 2
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2 as in SmolLM2
MERGES = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]
# byte-level spelling: Ġ is the space, Ċ the newline
TOKENS = SPECIALS + list("abcdefghijklmnopqrstuvwxyz") + ["Ġ", "Ċ"] + [m.replace(" ", "") for m in MERGES]
TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
            "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
            "{% endif %}")


def llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.permute: HF's rotary half-split rows -> llama.cpp's interleaved."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def reference_model(tied: bool) -> LlamaForCausalLM:
    config = LlamaConfig(vocab_size=len(TOKENS), hidden_size=HIDDEN, intermediate_size=64,
                         num_hidden_layers=LAYERS, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
                         max_position_embeddings=64, rms_norm_eps=2.0**-16, rope_theta=10000.0,
                         tie_word_embeddings=tied, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # norms off 1.0, so a swapped or dropped norm shows in the logits
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.3 if "norm" not in name else 0.2) + ("norm" in name))
    return model


def write_gguf(model: LlamaForCausalLM, path) -> None:
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny llama")
    w.add_block_count(LAYERS)
    w.add_context_length(64)
    w.add_embedding_length(HIDDEN)
    w.add_feed_forward_length(64)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_dimension_count(HIDDEN // HEADS)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(2.0**-16)
    w.add_vocab_size(len(TOKENS))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(TOKENS)
    w.add_token_types([3] * len(SPECIALS) + [1] * (len(TOKENS) - len(SPECIALS)))  # 3 = CONTROL, 1 = NORMAL
    w.add_token_merges(MERGES)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_pad_token_id(2)
    w.add_add_bos_token(False)
    w.add_chat_template(TEMPLATE)
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    if not model.config.tie_word_embeddings:  # llama.cpp writes no output.weight for a tied model
        w.add_tensor("output.weight", sd["lm_head.weight"])
    names = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
             "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj"}
    for i in range(LAYERS):
        for short, hf in names.items():
            t = sd[f"model.layers.{i}.{hf}.weight"]
            if short == "attn_q":
                t = llama_cpp_permute(t, HEADS)
            elif short == "attn_k":
                t = llama_cpp_permute(t, KV_HEADS)
            w.add_tensor(f"blk.{i}.{short}.weight", np.ascontiguousarray(t))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module", params=[True, False], ids=["tied", "untied"])
def converted(request, tmp_path_factory):
    tied = request.param
    tmp = tmp_path_factory.mktemp("tied" if tied else "untied")
    reference = reference_model(tied)
    # an arbitrary name and no .gguf suffix, as a download cache stores it
    write_gguf(reference, tmp / "artifact.bin")
    out = tmp / "hf"
    out.mkdir()
    convert(tmp / "artifact.bin", out, progress=False)  # the zoo passes options meant for other formats
    return reference, tmp / "artifact.bin", out


def gguf_folder(artifact):
    """The artifact linked as folder + .gguf name, the way transformers' ``gguf_file=`` wants it."""
    folder = artifact.parent / "direct"
    folder.mkdir(exist_ok=True)
    if not (folder / "m.gguf").exists():
        (folder / "m.gguf").symlink_to(artifact)
    return folder


def test_permutation_helper_is_what_transformers_undoes():
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    w = np.arange(16 * 6, dtype=np.float32).reshape(16, 6)  # K: 2 heads of 8 rows
    undone = LlamaTensorProcessor({"num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS})
    back = undone.process(llama_cpp_permute(w, KV_HEADS), "blk.0.attn_k.weight").weights
    assert not np.array_equal(llama_cpp_permute(w, KV_HEADS), w)
    assert np.array_equal(back, w)


def test_folder_has_the_files_and_ties(converted):
    reference, _, out = converted
    tied = reference.config.tie_word_embeddings
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json"} <= names
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config  # else the folder would need the GGUF loader again
    assert config["tie_word_embeddings"] is tied
    assert config["architectures"] == ["LlamaForCausalLM"]
    with safe_open(out / "model.safetensors", "pt") as f:
        keys = set(f.keys())
        assert {f.get_tensor(k).dtype for k in keys} == {torch.float32}
    # tied: stored once (not duplicated); untied: the separate head is kept
    assert ("lm_head.weight" in keys) is (not tied)
    assert "model.embed_tokens.weight" in keys
    assert set(reference.state_dict()) - keys == ({"lm_head.weight"} if tied else set())


def test_weights_and_logits_match_the_source_model(converted):
    reference, _, out = converted
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    assert type(model) is LlamaForCausalLM
    got, want = model.state_dict(), reference.state_dict()
    assert set(got) == set(want)
    for key in want:  # F32 in the file: exact, Q/K un-permuted back to HF's layout
        assert torch.equal(got[key], want[key]), key
    tied = reference.config.tie_word_embeddings
    assert (model.lm_head.weight is model.model.embed_tokens.weight) is tied
    ids = torch.tensor([[1, 5, 9, 30, 33, 2, 7]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, reference(ids).logits, rtol=1e-5, atol=1e-5)


def test_same_logits_as_loading_the_gguf_directly(converted):
    _, artifact, out = converted
    direct = AutoModelForCausalLM.from_pretrained(gguf_folder(artifact), gguf_file="m.gguf", dtype=torch.float32).eval()
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    ids = torch.tensor([[1, 3, 4, 38, 2]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, direct(ids).logits)


def test_tokenizer_matches_the_gguf_tokenizer_and_keeps_the_chat_template(converted):
    _, artifact, out = converted
    tok = AutoTokenizer.from_pretrained(out)
    direct = AutoTokenizer.from_pretrained(gguf_folder(artifact), gguf_file="m.gguf")
    text = "hello world"
    ids = tok.encode(text)
    assert ids == direct.encode(text) == [TOKENS.index("hello"), TOKENS.index("Ġworld")]  # merges applied
    assert tok.decode(ids) == text
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == ("<|im_start|>", "<|im_end|>",
                                                                            "<|im_end|>", "<|endoftext|>")
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (1, 2, 2)
    assert tok.model_max_length == 64
    messages = [{"role": "user", "content": "hello world"}]
    rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == "<|im_start|>user\nhello world<|im_end|>\n<|im_start|>assistant\n"
    chat_ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    assert chat_ids == direct.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    assert chat_ids[0] == 1 and chat_ids.count(2) == 1  # control tokens stay whole
    gen = json.loads((out / "generation_config.json").read_text())
    assert (gen["bos_token_id"], gen["eos_token_id"], gen["pad_token_id"]) == (1, 2, 2)


def test_not_a_gguf_file_is_a_one_line_data_error(tmp_path):
    bad = tmp_path / "artifact.gguf"
    bad.write_bytes(b"PK\x03\x04 not gguf at all\n second line")
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError, match="not a GGUF file") as err:
        convert(bad, tmp_path / "out")
    assert str(err.value).startswith(str(bad)) and "\n" not in str(err.value)
    assert not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("keep", [0.5, 0.02], ids=["tensors_cut", "header_cut"])
def test_truncated_gguf_is_a_one_line_data_error(tmp_path, keep):
    whole = tmp_path / "whole.gguf"
    write_gguf(reference_model(tied=True), whole)
    data = whole.read_bytes()
    cut = tmp_path / "artifact.gguf"
    cut.write_bytes(data[: int(len(data) * keep)])
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError, match="truncated") as err:
        convert(cut, tmp_path / "out")
    assert str(err.value).startswith(f"{cut}:") and "\n" not in str(err.value)
    assert not any((tmp_path / "out").iterdir())


def test_missing_gguf_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "gguf", None)  # makes `import gguf` fail
    with pytest.raises(ConfigError, match=r"pip install 'tunelab\[zoo\]' \(the gguf package converts GGUF files\)"):
        convert(tmp_path / "artifact.gguf", tmp_path)

