"""Seeded text perturbation suites for robustness evaluation at test time.

Every suite works on a list of words (and, for token classification, their IOB2 tags) and
needs no external resource (no word lists, no models), so a result is reproducible anywhere.

Suites (``SUITES``):

* ``typo``: per word, one of swap (two adjacent inner characters), drop (one character),
  insert (a random letter) or keyboard, chosen among the edits that actually change the word.
* ``keyboard``: replace one letter by a QWERTY neighbour, keeping its case.
* ``word_drop`` / ``word_dup``: remove / duplicate a word.
* ``case``: lower-, upper- or title-case a word. This is a no-op for uncased models such as the
  default MiniLM (its tokenizer lowercases everything); it only matters for cased models.

Rules that keep the gold labels valid:

* Character suites only touch words that contain a letter and no CJK character (a "typo" of a
  CJK character is not defined here; numbers and punctuation are left alone because changing
  them can change meaning). They never change the number of words, and ``drop`` never empties
  a word, so token/tag alignment is untouched.
* For token classification, ``word_drop`` and ``word_dup`` only act on ``O`` words, so every gold
  entity keeps exactly its tokens and type.
* Text without whitespace that contains CJK (Chinese) is split into single CJK characters and
  runs of other characters, and re-joined without spaces; other text is split on whitespace and
  re-joined with single spaces.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable
from typing import Optional

from tunelab import tasks
from tunelab.errors import ConfigError

Tags = Optional[list[str]]
# A suite maps (words, tags or None, rate, rng) to new (words, tags); tags is None outside NER.
Suite = Callable[[list[str], Tags, float, random.Random], tuple[list[str], Tags]]

# Horizontal and diagonal neighbours on a US QWERTY keyboard (letters only).
KEYBOARD_NEIGHBOURS: dict[str, str] = {
    "q": "wa", "w": "qesa", "e": "wrds", "r": "etfd", "t": "rygf", "y": "tuhg", "u": "yijh",
    "i": "uokj", "o": "iplk", "p": "ol",
    "a": "qwsz", "s": "weadzx", "d": "erfsxc", "f": "rtgdcv", "g": "tyhfvb", "h": "yujgbn",
    "j": "uikhnm", "k": "iojlm", "l": "opk",
    "z": "asx", "x": "zsdc", "c": "xdfv", "v": "cfgb", "b": "vghn", "n": "bhjm", "m": "njk",
}
_LETTERS = "abcdefghijklmnopqrstuvwxyz"

_CJK = "\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_CJK_RE = re.compile(f"[{_CJK}]")
_UNITS_RE = re.compile(f"[{_CJK}]|[^{_CJK}]+")


def has_cjk(text: str) -> bool:
    return _CJK_RE.search(text) is not None


# ---- character edits: each returns None when it cannot change the word -------------------

def _swap(word: str, rng: random.Random) -> str | None:
    # Inner pairs only (first and last letters stay), and only pairs of different characters,
    # so a chosen swap always changes the word.
    pairs = [j for j in range(1, len(word) - 2) if word[j] != word[j + 1]]
    if not pairs:
        return None
    j = rng.choice(pairs)
    return word[:j] + word[j + 1] + word[j] + word[j + 2:]


def _drop(word: str, rng: random.Random) -> str | None:
    if len(word) < 2:
        return None  # never empty a word
    j = rng.randrange(1, len(word) - 1) if len(word) >= 3 else rng.randrange(len(word))
    return word[:j] + word[j + 1:]


def _insert(word: str, rng: random.Random) -> str | None:
    letter = rng.choice(_LETTERS)
    if word.isupper():
        letter = letter.upper()
    j = rng.randrange(1, len(word)) if len(word) >= 2 else rng.randrange(2)
    return word[:j] + letter + word[j:]


def _keyboard(word: str, rng: random.Random) -> str | None:
    spots = [j for j, c in enumerate(word) if c.lower() in KEYBOARD_NEIGHBOURS]
    if not spots:
        return None
    j = rng.choice(spots)
    new = rng.choice(KEYBOARD_NEIGHBOURS[word[j].lower()])
    if word[j].isupper():
        new = new.upper()
    return word[:j] + new + word[j + 1:]


def _change_case(word: str, rng: random.Random) -> str | None:
    variants = {word.lower(), word.upper(), word[:1].upper() + word[1:].lower()}
    # Same length only: e.g. "ß".upper() == "SS" would be more than a case change.
    options = sorted(v for v in variants if v != word and len(v) == len(word))
    return rng.choice(options) if options else None


def _typo_eligible(word: str) -> bool:
    return any(c.isalpha() for c in word) and not has_cjk(word)


def _char_suite(edits: tuple, eligible: Callable[[str], bool] = _typo_eligible) -> Suite:
    def suite(words: list[str], tags: Tags, rate: float, rng: random.Random):
        out = []
        for word in words:
            # Draw for every word so the decision stream does not depend on eligibility.
            if rng.random() < rate and eligible(word):
                # Try the edits in a random order; the first that changes the word wins.
                for edit in rng.sample(edits, len(edits)):
                    new = edit(word, rng)
                    if new is not None:
                        word = new
                        break
            out.append(word)
        return out, (list(tags) if tags is not None else None)
    return suite


# ---- word edits --------------------------------------------------------------------------

def _word_drop(words: list[str], tags: Tags, rate: float, rng: random.Random):
    n = len(words)
    drop = [rng.random() < rate for _ in range(n)]
    if tags is not None:
        # Only O words; and not an O right before an I- tag: removing it could join that I-
        # to a preceding entity and change the gold entities.
        drop = [d and tags[k] == "O" and not (k + 1 < n and tags[k + 1].startswith("I-"))
                for k, d in enumerate(drop)]
    if n and all(drop):
        drop[rng.randrange(n)] = False  # never drop every word
    new_words = [w for w, d in zip(words, drop) if not d]
    new_tags = [t for t, d in zip(tags, drop) if not d] if tags is not None else None
    return new_words, new_tags


def _word_dup(words: list[str], tags: Tags, rate: float, rng: random.Random):
    new_words: list[str] = []
    new_tags: list[str] | None = [] if tags is not None else None
    for k, word in enumerate(words):
        # Only O words in NER: an O copy next to an O word cannot touch an entity span.
        copies = 2 if rng.random() < rate and (tags is None or tags[k] == "O") else 1
        new_words += [word] * copies
        if new_tags is not None:
            new_tags += [tags[k]] * copies
    return new_words, new_tags


SUITES: dict[str, Suite] = {
    "typo": _char_suite((_swap, _drop, _insert, _keyboard)),
    "keyboard": _char_suite((_keyboard,)),
    "word_drop": _word_drop,
    "word_dup": _word_dup,
    "case": _char_suite((_change_case,), eligible=lambda w: True),
}


# ---- records -----------------------------------------------------------------------------

def _perturb_text(text: str, suite: Suite, rate: float, rng: random.Random) -> str:
    if has_cjk(text) and not any(c.isspace() for c in text.strip()):
        # Unsegmented Chinese: each CJK character is a word; runs of other characters stay whole.
        words, joiner = _UNITS_RE.findall(text.strip()), ""
    else:
        words, joiner = text.split(), " "
    new_words, _ = suite(words, None, rate, rng)
    # An untouched text keeps its original spacing (so rate 0 is the identity).
    return text if new_words == words else joiner.join(new_words)


def check_args(suite: str, rate: float) -> None:
    if suite not in SUITES:
        raise ConfigError(f"robustness.suites: unknown suite {suite!r}; available: {sorted(SUITES)}")
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0.0 <= rate <= 1.0:
        raise ConfigError(f"robustness.rate: must be a number in [0, 1], got {rate!r}")


def perturb_records(records: list[dict], task: str, suite: str, rate: float, seed: int) -> list[dict]:
    """New, perturbed copies of ``records`` (inputs untouched); labels never change.

    Each record gets its own RNG seeded by ``(seed, suite, index)``, so record i's result does not
    depend on the other records. ``rate`` is the per-word probability of an edit.
    """
    check_args(suite, rate)
    task = tasks.get(task)
    fn = SUITES[suite]
    out = []
    for i, record in enumerate(records):
        rng = random.Random(f"{seed}:{suite}:{i}")
        new = task.perturb(copy.deepcopy(record),
                           lambda text: _perturb_text(text, fn, rate, rng),
                           lambda tokens, tags: fn(tokens, tags, rate, rng))
        out.append(new)
    return out
