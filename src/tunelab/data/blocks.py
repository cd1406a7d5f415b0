"""Tokenizing documents into fixed-size blocks for pretraining (in memory or streamed alike).

Every document is tokenized without special tokens and followed by a separator ([SEP] for
BERT-style tokenizers, else EOS); the concatenation is cut into pieces of
``block_size - n_special`` tokens, each wrapped with the model's special tokens (BERT:
``[CLS] ... [SEP]``; GPT-2: nothing), so every block is exactly ``block_size`` tokens long and
needs no padding. The final partial block is dropped. ``iter_blocks`` is the one generator that
does this; ``tokenize_and_block`` (in memory, cached) and ``StreamingBlocks`` both consume it.
"""

from __future__ import annotations

from itertools import islice
from typing import Iterable, Iterator

import torch

from tunelab.errors import ConfigError, DataError


def special_tokens_around(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after one sequence (BERT: [CLS], [SEP]; GPT-2: none)."""
    n = tokenizer.num_special_tokens_to_add()
    build = getattr(tokenizer, "build_inputs_with_special_tokens", None)
    if build is not None:
        marker = -7  # no real id; find where the sequence lands between the specials
        wrapped = list(build([marker]))
        i = wrapped.index(marker)
        prefix, suffix = wrapped[:i], wrapped[i + 1:]
    else:  # transformers 5 fast tokenizers: compare a probe encoded with and without specials
        plain = tokenizer("hello", add_special_tokens=False)["input_ids"]
        full = tokenizer("hello")["input_ids"]
        starts = [i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain]
        if not plain or not starts:
            raise ConfigError("model.tokenizer: cannot tell where it adds special tokens")
        prefix, suffix = full[:starts[0]], full[starts[0] + len(plain):]
    if len(prefix) + len(suffix) != n:
        raise ConfigError(f"model.tokenizer: adds {n} special tokens but wraps a sequence in {prefix} ... {suffix}")
    return list(prefix), list(suffix)


def separator_id(tokenizer) -> int | None:
    """The id appended after each document: [SEP] (BERT-style), else EOS; None if it has neither."""
    sep = getattr(tokenizer, "sep_token_id", None)
    return sep if sep is not None else getattr(tokenizer, "eos_token_id", None)


def encode_documents(tokenizer, docs: Iterable[str], batch: int = 512) -> Iterator[list[int]]:
    """Token ids of each document, no special tokens, never truncated (in batches, for speed).
    ``docs`` may be a stream: it is read ``batch`` documents at a time."""
    it = iter(docs)
    while chunk := list(islice(it, batch)):
        enc = tokenizer(
            chunk, add_special_tokens=False, truncation=False, padding=False,
            return_attention_mask=False, return_token_type_ids=False,
            verbose=False,  # documents are longer than model_max_length by design
        )
        yield from enc["input_ids"]


class Layout:
    """Block geometry for one tokenizer: specials around each block, separator, content length."""

    def __init__(self, tokenizer, block_size: int) -> None:
        self.prefix, self.suffix = special_tokens_around(tokenizer)
        self.sep = separator_id(tokenizer)
        self.block_size = block_size
        self.content = block_size - len(self.prefix) - len(self.suffix)
        if not isinstance(block_size, int) or self.content < 1:
            raise ConfigError(f"data.block_size: {block_size!r} leaves no room next to the tokenizer's "
                              f"{len(self.prefix) + len(self.suffix)} special tokens")

    def check(self, name: str, text_tokens: int, stream_tokens: int) -> None:
        """The two corpus errors: nothing to tokenize, or not enough for one block."""
        if text_tokens == 0:
            raise DataError(f"{name}: corpus has no text")
        if stream_tokens < self.content:
            raise DataError(f"{name}: corpus has {stream_tokens} tokens, fewer than one block of "
                            f"{self.block_size}; lower data.block_size")


def iter_blocks(token_lists: Iterable[list[int]], lay: Layout, name: str = "corpus") -> Iterator[list[int]]:
    """Documents' token ids -> blocks (lists of ``block_size`` ids), in corpus order. Raises the
    corpus errors (no text, not one block) once the stream is exhausted."""
    buf: list[int] = []
    text_tokens = stream_tokens = 0
    for ids in token_lists:
        text_tokens += len(ids)
        buf.extend(ids)
        if lay.sep is not None:
            buf.append(lay.sep)
        n = len(buf) // lay.content
        for k in range(n):
            yield lay.prefix + buf[k * lay.content:(k + 1) * lay.content] + lay.suffix
        stream_tokens += n * lay.content
        del buf[: n * lay.content]
    lay.check(name, text_tokens, stream_tokens + len(buf))


def tokenize_and_block(docs: Iterable[str], tokenizer, block_size: int, name: str = "corpus") -> torch.Tensor:
    """Documents -> ``LongTensor (n_blocks, block_size)``: concatenated with separators, cut, wrapped."""
    lay = Layout(tokenizer, block_size)
    rows = list(iter_blocks(encode_documents(tokenizer, docs), lay, name))
    return torch.tensor(rows, dtype=torch.long).view(len(rows), block_size)
