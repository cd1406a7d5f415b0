"""Per serving IO kind: request items -> the task's own training records, and logits -> answers.

Each task declares its kind (``serve_io``, see ``tunelab.tasks.base.SERVE_IO``); serving looks
that up and never compares task names, so a new task that serves like an existing one is served
without touching this package.

The records go through the task's own ``encode`` (the one training and evaluation use) with a
placeholder label, and token-classification logits become word tags through the task's own
``metric_inputs`` -- the exact decision ``evaluate.py`` scores -- so a served entity is the
entity evaluation counted.

Items (what ``requests`` and ``batch`` produce), per kind:

* ``tokens`` (NER): ``{"text"}`` (split into words with character spans) or ``{"tokens"}``
  (words as given, e.g. a CoNLL test file; answers then hold word indices and the tags);
* ``classify``: ``{"text"}`` or ``{"text", "text_pair"}``; ``pair``: always the pair;
* ``choice``: ``{"question", "options"}``.

``generate`` (a causal LM) has no entry here: it is served on ``/generate`` by ``generator``.

Items of one batch must share a ``shape`` (pairs or not, number of options): the encoders and the
collator need one layout per batch.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from tunelab.serving.words import entity_spans, split_words


class TokenIO:
    @staticmethod
    def shape(item: dict) -> Any:
        return None

    @staticmethod
    def records(items: Sequence[dict], labels: Sequence[str]) -> tuple[list[dict], list[Any]]:
        outside = "O" if "O" in labels else labels[0]
        records, contexts = [], []
        for item in items:
            if "tokens" in item:
                words, spans = list(item["tokens"]), None
            else:
                words, spans = split_words(item["text"])
            records.append({"tokens": words, "tags": [outside] * len(words)})
            contexts.append(spans)
        return records, contexts

    @staticmethod
    def answers(task, logits: torch.Tensor, batch: dict, encoded: list[dict], items: Sequence[dict],
                contexts: list, labels: Sequence[str], max_length: int) -> list[dict]:
        word_preds, _ = task.metric_inputs(logits, batch, list(labels))
        starts = batch["word_starts"]
        confidence = logits.softmax(-1).max(-1).values  # of each token's decision
        word_scores = confidence.gather(1, starts.clamp(min=0)) if starts.numel() else starts.float()
        out = []
        for i, (item, spans, enc) in enumerate(zip(items, contexts, encoded)):
            n = len(enc["word_starts"])
            tags = [labels[j] for j in word_preds[i, :n].tolist()]
            scores = word_scores[i, :n].tolist()
            kept = [w for w, s in enumerate(enc["word_starts"]) if s >= 0]
            truncated = len(enc["input_ids"]) >= max_length and len(kept) < n
            if spans is None:  # words given: word indices, and the tags (what gold files hold)
                ents = entity_spans(tags, [(w, w + 1) for w in range(n)], "", scores)
                for e in ents:
                    e["start_word"], e["end_word"] = e.pop("start"), e.pop("end")
                    e["text"] = " ".join(item["tokens"][e["start_word"]:e["end_word"]])
                answer = {"entities": ents, "tags": tags, "truncated": truncated}
            else:
                answer = {"entities": entity_spans(tags, spans, item["text"], scores), "truncated": truncated}
                if truncated:  # the characters the model saw; later words count as "O"
                    answer["seen_chars"] = spans[kept[-1]][1] if kept else 0
            out.append(answer)
        return out


class ClassifyIO:
    @staticmethod
    def shape(item: dict) -> Any:
        return "text_pair" in item

    @staticmethod
    def records(items, labels):
        return [{**{k: item[k] for k in ("text", "text_pair") if k in item}, "label": labels[0]} for item in items], \
            [None] * len(items)

    @staticmethod
    def answers(task, logits, batch, encoded, items, contexts, labels, max_length):
        probs = logits.softmax(-1)
        out = []
        for p, enc in zip(probs.tolist(), encoded):
            best = max(range(len(p)), key=p.__getitem__)
            out.append({"label": labels[best], "score": round(p[best], 6),
                        "probabilities": {lab: round(x, 6) for lab, x in zip(labels, p)},
                        "truncated": bool(enc.get("truncated", 0))})
        return out


class ChoiceIO:
    @staticmethod
    def shape(item: dict) -> Any:
        return len(item["options"])

    @staticmethod
    def records(items, labels):
        # "A" is a placeholder answer: the first option always exists.
        return [{"question": it["question"], "choices": list(it["options"]), "label": labels[0]} for it in items], \
            [None] * len(items)

    @staticmethod
    def answers(task, logits, batch, encoded, items, contexts, labels, max_length):
        probs = logits.softmax(-1)
        out = []
        for p, item, enc in zip(probs.tolist(), items, encoded):
            best = max(range(len(p)), key=p.__getitem__)
            out.append({"option": best, "letter": chr(ord("A") + best) if best < 26 else str(best),
                        "text": item["options"][best], "score": round(p[best], 6),
                        "probabilities": [round(x, 6) for x in p], "truncated": bool(enc.get("truncated", 0))})
        return out


# serve_io kind -> its IO: the kinds served on /predict.
_IO = {
    "tokens": TokenIO,
    "classify": ClassifyIO,
    "pair": ClassifyIO,
    "choice": ChoiceIO,
}


def kind(task) -> str | None:
    """The serving IO kind ``task`` (a Task or a registered name) declares; None: it is not served,
    or no task has that name."""
    from tunelab import tasks

    if isinstance(task, str) and task not in tasks.names():
        return None
    return tasks.get(task).serve_io


def predicts(task) -> bool:
    """Whether ``task`` (a Task or a registered name) is served on /predict."""
    return kind(task) in _IO


def for_task(task):
    """The IO of ``task`` (a Task or a registered name); a one-line ConfigError if it has no /predict."""
    if not predicts(task):
        from tunelab import tasks
        from tunelab.errors import ConfigError

        name = getattr(task, "name", task)
        known = [n for n in tasks.names() if predicts(n)]
        raise ConfigError(f"model: task {name!r} has no /predict (known: {', '.join(known)})")
    return _IO[kind(task)]
