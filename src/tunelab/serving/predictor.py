"""One predictor for the server, predict.py and the tests: items in, answers out, in order.

Within one call, items are grouped by layout (``task_io``), encoded by the task's own encoder
with the run's ``max_length`` and ``encode_options``, sorted by token length (as evaluation
batches are, so little padding), padded per batch and run through the backend in batches of
``batch_size``. The answers come back in the order of the items.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

from tunelab import tasks
from tunelab.data.collate import PadCollator
from tunelab.serving import task_io


class Predictor:
    def __init__(self, task, tokenizer, labels: Sequence[str], max_length: int, backend,
                 encode_options: Mapping | None = None, batch_size: int = 32) -> None:
        self.task = tasks.get(task)
        self.io = task_io.for_task(self.task)
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.label2id = {n: i for i, n in enumerate(self.labels)}
        self.max_length = int(max_length)
        self.backend = backend
        self.encode_options = dict(encode_options or {})
        self.batch_size = int(batch_size)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        self.collate = PadCollator(pad)

    @classmethod
    def from_spec(cls, spec, backend, tokenizer=None, batch_size: int = 32) -> "Predictor":
        from tunelab.serving.loading import load_tokenizer

        return cls(spec.task, tokenizer or load_tokenizer(spec), spec.labels, spec.max_length, backend,
                   spec.encode_options, batch_size)

    def encode(self, records: list[dict]) -> list[dict]:
        # Only pass options the run had: an encoder without options takes none.
        return self.task.encode(records, self.tokenizer, self.label2id, self.max_length, **self.encode_options)

    def predict(self, items: Sequence[dict], backend=None) -> list[dict]:
        """Answers in the order of ``items``; ``backend`` overrides the default (an adapter's)."""
        backend = backend or self.backend
        groups: dict = defaultdict(list)
        for i, item in enumerate(items):
            groups[self.io.shape(item)].append(i)
        answers: list[dict | None] = [None] * len(items)
        for idx in groups.values():
            group = [items[i] for i in idx]
            records, contexts = self.io.records(group, self.labels)
            encoded = self.encode(records)
            order = sorted(range(len(group)), key=lambda j: self.task.length(encoded[j]))
            for b in range(0, len(order), self.batch_size):
                chunk = order[b:b + self.batch_size]
                enc = [encoded[j] for j in chunk]
                batch = self.collate(enc)
                logits = backend.logits(batch)
                outs = self.io.answers(self.task, logits, batch, enc, [group[j] for j in chunk],
                                       [contexts[j] for j in chunk], self.labels, self.max_length)
                for j, out in zip(chunk, outs):
                    answers[idx[j]] = out
        return answers  # type: ignore[return-value]
