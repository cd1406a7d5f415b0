"""Raw text <-> words with character offsets, for NER on requests that send plain strings.

Training data for token classification comes as words (``tokens``); a request comes as a string.
``split_words`` cuts it the way the corpora are cut (NCBI-disease: runs of letters/digits, and
each punctuation mark alone; cMedQANER: each Chinese character alone), keeping each word's
character span so an entity is reported as ``text[start:end]`` of the original string, whatever
the tokenizer does (lower-casing, accents, [UNK]). Joining NCBI's tokens with spaces and splitting
again gives back the same tokens.
"""

from __future__ import annotations

import re
from typing import Sequence

from tunelab.metrics.entities import extract_entities

# CJK ideographs one by one (as BERT's basic tokenizer does), other letter/digit runs whole, and
# every other non-space character (punctuation, symbols, emoji) as a word of its own.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002ebef\U0002f800-\U0002fa1f"
_WORD = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])\w)+|[^\w\s]")

Span = tuple[int, int]


def split_words(text: str) -> tuple[list[str], list[Span]]:
    """Words of ``text`` and their ``(start, end)`` character spans."""
    words, spans = [], []
    for m in _WORD.finditer(text):
        words.append(m.group())
        spans.append(m.span())
    return words, spans


def entity_spans(tags: Sequence[str], spans: Sequence[Span], text: str,
                 word_scores: Sequence[float] | None = None) -> list[dict]:
    """Strict IOB2 entities of word ``tags`` (the metric's own extraction) as character spans."""
    out = []
    for etype, first, end in extract_entities(list(tags)):
        start, stop = spans[first][0], spans[end - 1][1]
        entity = {"label": etype, "start": start, "end": stop, "text": text[start:stop]}
        if word_scores is not None:
            entity["score"] = round(float(sum(word_scores[first:end]) / (end - first)), 6)
        out.append(entity)
    return out


def tags_from_spans(text: str, entities: Sequence[dict], types: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(words, IOB2 tags)`` of ``text`` given entities ``{"start", "end", "label"}`` (feedback).

    ValueError names what is wrong: an unknown type, a span outside the text, a span that starts
    or ends inside a word (the training data is word-level), overlapping entities.
    """
    words, spans = split_words(text)
    tags = ["O"] * len(words)
    starts = {s: i for i, (s, _) in enumerate(spans)}
    ends = {e: i for i, (_, e) in enumerate(spans)}
    for n, ent in enumerate(sorted(entities, key=lambda e: e["start"])):
        label, start, end = ent["label"], ent["start"], ent["end"]
        where = f"correct[{n}] ({start}-{end} {label!r})"
        if label not in types:
            raise ValueError(f"{where}: unknown entity type; the model knows {', '.join(types)}")
        if not 0 <= start < end <= len(text):
            raise ValueError(f"{where}: span outside the text (0-{len(text)})")
        if ent.get("text") is not None and ent["text"] != text[start:end]:
            raise ValueError(f"{where}: text {ent['text']!r} is not text[{start}:{end}] = {text[start:end]!r}")
        stripped_start = start + len(text[start:end]) - len(text[start:end].lstrip())
        stripped_end = end - (len(text[start:end]) - len(text[start:end].rstrip()))
        if stripped_start not in starts or stripped_end not in ends:
            raise ValueError(f"{where}: does not start and end on word boundaries "
                             f"(words: {[text[s:e] for s, e in spans if s < end and e > start]})")
        first, last = starts[stripped_start], ends[stripped_end]
        if any(t != "O" for t in tags[first:last + 1]):
            raise ValueError(f"{where}: overlaps another entity")
        tags[first] = f"B-{label}"
        for i in range(first + 1, last + 1):
            tags[i] = f"I-{label}"
    return words, tags
