"""Batch collators for language-model pretraining: dynamic MLM masking and causal-LM labels.

Masking happens per batch (dynamic, RoBERTa-style): every epoch sees new masks. BERT's recipe:
15% of the real tokens are chosen; of those 80% become [MASK], 10% a random token, 10% stay.
Labels are the original ids at chosen positions and -100 everywhere else (special tokens are
never chosen). Whole-word masking chooses words (a WordPiece token and its ``##`` continuations)
instead of tokens, so a model cannot recover a masked piece from its unmasked siblings.

Evaluation must not be dynamic: with fresh masks every pass, two validation passes of one model
differ (measured: perplexity 744 vs 763 for the same MiniLM checkpoint) and a "before vs after"
comparison scores different positions. ``for_evaluation(seed)`` returns a collator whose masks
are a function of each block's tokens and the seed alone, not of the batch, its order or the
global RNG.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace

import torch

from tunelab.data.collate import IGNORE
from tunelab.errors import ConfigError


def _stack(blocks) -> dict[str, torch.Tensor]:
    ids = torch.stack([b if isinstance(b, torch.Tensor) else torch.as_tensor(b) for b in blocks]).long()
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


@dataclass
class MLMCollator:
    tokenizer: object
    mlm_probability: float = 0.15
    whole_word: bool = False
    # None: fresh masks on every call (training). An int: masks keyed by block content + seed.
    fixed_seed: int | None = None
    _special: torch.Tensor = field(init=False, repr=False)
    _continuation: torch.Tensor | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.tokenizer.mask_token_id is None:
            raise ConfigError("model.tokenizer: masked LM needs a tokenizer with a mask token")
        n = len(self.tokenizer)
        self._special = torch.zeros(n, dtype=torch.bool)
        self._special[torch.tensor(self.tokenizer.all_special_ids, dtype=torch.long)] = True
        if self.whole_word:
            pieces = self.tokenizer.convert_ids_to_tokens(list(range(n)))
            if not any(p.startswith("##") for p in pieces if p):
                raise ConfigError("data.whole_word_mask: needs a WordPiece tokenizer (## continuation pieces)")
            self._continuation = torch.tensor([bool(p) and p.startswith("##") for p in pieces])

    def __call__(self, blocks) -> dict[str, torch.Tensor]:
        batch = _stack(blocks)
        ids = batch["input_ids"]
        candidates = ~self._special[ids]
        draws = self._draws(ids)
        if self.whole_word:
            chosen = self._choose_words(ids, candidates, draws["choose"])
        else:
            chosen = (draws["choose"][:, 1:] < self.mlm_probability) & candidates
        labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
        masked = ids.clone()
        to_mask = chosen & (draws["mask"] < 0.8)
        masked[to_mask] = self.tokenizer.mask_token_id
        # Half of the remaining 20% (10% overall) get a random token; the rest keep theirs.
        to_random = chosen & ~to_mask & (draws["random"] < 0.5)
        masked[to_random] = draws["token"][to_random]
        batch.update(input_ids=masked, labels=labels)
        return batch

    def for_evaluation(self, seed: int) -> MLMCollator:
        """The same masking with masks fixed per block: every pass and every run see the same ones."""
        return replace(self, fixed_seed=int(seed))

    def _draws(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        # "choose" has one extra column: whole-word masking indexes it by word number (0..L).
        b, n, vocab = ids.shape[0], ids.shape[1], len(self.tokenizer)
        if self.fixed_seed is None:
            return {"choose": torch.rand(b, n + 1), "mask": torch.rand(b, n), "random": torch.rand(b, n),
                    "token": torch.randint(vocab, (b, n))}
        rows = []
        for row in ids:
            # The CPU generator keeps only 32 bits of its seed, so the seed goes into the hash too.
            key = zlib.crc32(row.numpy().astype("int64").tobytes(), zlib.crc32(str(self.fixed_seed).encode()))
            g = torch.Generator().manual_seed(key)
            rows.append((torch.rand(n + 1, generator=g), torch.rand(n, generator=g), torch.rand(n, generator=g),
                         torch.randint(vocab, (n,), generator=g)))
        return {k: torch.stack([r[i] for r in rows]) for i, k in enumerate(("choose", "mask", "random", "token"))}

    def _choose_words(self, ids: torch.Tensor, candidates: torch.Tensor, pick: torch.Tensor) -> torch.Tensor:
        cont = self._continuation[ids] & candidates
        starts = candidates & ~cont
        # Word index per token: a running count of word starts; continuations share their word's.
        word = torch.cumsum(starts.long(), dim=1)
        return (pick < self.mlm_probability).gather(1, word) & candidates


@dataclass
class CLMCollator:
    """Causal LM: labels are the inputs; the model shifts them (position t predicts t+1).

    Pretraining blocks all have one length and need no padding. Sequences of different lengths
    are right-padded with ``pad_token_id`` (Llama-style tokenizers pad with EOS); the padding is
    found by position (attention mask 0), never by id, so it alone gets label -100 and a real EOS
    (the document separator) is still predicted."""

    pad_token_id: int | None = None

    def __call__(self, blocks) -> dict[str, torch.Tensor]:
        rows = [b if isinstance(b, torch.Tensor) else torch.as_tensor(b) for b in blocks]
        if len({len(r) for r in rows}) <= 1:
            batch = _stack(rows)
            batch["labels"] = batch["input_ids"].clone()
            return batch
        if self.pad_token_id is None:
            raise ConfigError("model.tokenizer: sequences of different lengths need a pad (or EOS) token")
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), int(self.pad_token_id), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r.long()
            mask[i, : len(r)] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, IGNORE)}
