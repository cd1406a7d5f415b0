"""Per-batch dynamic padding: each batch is padded to its own longest example.

Padding to a fixed max_length wastes most of the compute on short sentences (NCBI's mean is
~30 tokens); ``pad_to`` exists only so the benchmark can measure that recipe.

Multiple-choice examples hold one token list per choice; they are padded to
``(batch, n_choices, longest choice in the batch)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# The label id the loss ignores (sub-tokens after a word's first, special tokens, padding).
IGNORE = -100

# Key -> pad value. Word-level keys are padded along their own (word) axis.
_PAD = {"attention_mask": 0, "token_type_ids": 0, "labels": IGNORE, "word_labels": IGNORE, "word_starts": -1}
_TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids", "labels")


@dataclass
class PadCollator:
    pad_token_id: int
    pad_to: int | None = None  # fixed length (benchmark of the fixed-padding recipe only)

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        for key in items[0]:
            values = [it[key] for it in items]
            if not isinstance(values[0], list):  # sequence labels: one int per example
                batch[key] = torch.tensor(values, dtype=torch.long)
                continue
            pad = self.pad_token_id if key == "input_ids" else _PAD.get(key, 0)
            if values[0] and isinstance(values[0][0], list):  # multiple choice: n_choices x len
                n_choices = {len(v) for v in values}
                if len(n_choices) > 1:
                    raise ValueError(f"{key}: examples of one batch have {sorted(n_choices)} choices; need one count")
                width = self._width(max(len(row) for v in values for row in v), key)
                batch[key] = torch.tensor(
                    [[row + [pad] * (width - len(row)) for row in v] for v in values], dtype=torch.long
                )
                continue
            width = self._width(max(len(v) for v in values), key)
            batch[key] = torch.tensor([v + [pad] * (width - len(v)) for v in values], dtype=torch.long)
        return batch

    def _width(self, longest: int, key: str) -> int:
        return max(longest, self.pad_to) if self.pad_to is not None and key in _TOKEN_KEYS else longest
