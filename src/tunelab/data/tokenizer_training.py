"""Tokenizers trained on a corpus with the ``tokenizers`` library, wrapped for ``transformers``.

* ``train_wordpiece``: BERT style (BERT normalizer and pre-tokenizer, WordPiece with ``##``
  continuation pieces, ``[CLS] A [SEP]`` / ``[CLS] A [SEP] B [SEP]`` post-processing); what an
  MLM model from scratch needs: ``[PAD] [UNK] [CLS] [SEP] [MASK]`` are ids 0..4.
* ``train_byte_bpe``: GPT-2 style byte-level BPE with one special ``<|endoftext|>`` that is
  bos, eos, unk and pad; no post-processing (a CLM model sees raw text), lossless decoding.

Both return a ``PreTrainedTokenizerFast``; ``train_tokenizer`` can also ``save_pretrained`` it so
``AutoTokenizer.from_pretrained(out_dir)`` loads the same tokenizer back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tunelab.errors import ConfigError

WORDPIECE_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
EOT = "<|endoftext|>"
KINDS = ("wordpiece", "bpe")


def train_wordpiece(docs: Iterable[str], vocab_size: int, lowercase: bool = True):
    """A BERT-style WordPiece tokenizer with ``vocab_size`` entries (specials included)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    _check_vocab_size(vocab_size, len(WORDPIECE_SPECIALS) + 1)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase, clean_text=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=WORDPIECE_SPECIALS, continuing_subword_prefix="##", show_progress=False
    )
    tok.train_from_iterator(docs, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
        do_lower_case=lowercase,
    )


def train_byte_bpe(docs: Iterable[str], vocab_size: int):
    """A GPT-2-style byte-level BPE tokenizer; ``<|endoftext|>`` is bos/eos/unk and pad."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()  # all 256 bytes: nothing is ever unknown
    _check_vocab_size(vocab_size, len(alphabet) + 1)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOT], initial_alphabet=alphabet, show_progress=False
    )
    tok.train_from_iterator(docs, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOT, eos_token=EOT, unk_token=EOT, pad_token=EOT,
        model_input_names=["input_ids", "attention_mask"],
        clean_up_tokenization_spaces=False,  # keep decode(encode(x)) == x
    )


def train_tokenizer(kind: str, docs: Iterable[str], vocab_size: int, out_dir: str | Path | None = None):
    """Train a ``kind`` ("wordpiece" | "bpe") tokenizer; ``save_pretrained(out_dir)`` if given."""
    if kind == "wordpiece":
        tok = train_wordpiece(docs, vocab_size)
    elif kind == "bpe":
        tok = train_byte_bpe(docs, vocab_size)
    else:
        raise ConfigError(f"tokenizer.kind: unknown kind {kind!r}; use {', '.join(KINDS)}")
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        tok.save_pretrained(str(out_dir))
    return tok


def _check_vocab_size(vocab_size: int, minimum: int) -> None:
    if not isinstance(vocab_size, int) or vocab_size < minimum:
        raise ConfigError(f"model.train_tokenizer.vocab_size: must be an int >= {minimum}, got {vocab_size!r}")
