"""Robustness perturbation suites: determinism, measured rates, and label-preserving edits."""

import copy
import random
from collections import Counter

import pytest

from tunelab.errors import ConfigError
from tunelab.robustness import perturb
from tunelab.robustness.perturb import KEYBOARD_NEIGHBOURS, SUITES, has_cjk, perturb_records

CHAR_SUITES = ("typo", "keyboard", "case")
WORD_SUITES = ("word_drop", "word_dup")


def _words(rng, n):
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(n)]


def _text_corpus(n_records=100, words_per=20, seed=0):
    rng = random.Random(seed)
    return [{"text": " ".join(_words(rng, words_per)), "label": "pos"} for _ in range(n_records)]


def _entities(tokens, tags):
    """Strict IOB2 entities as (type, tokens): B-X opens, I-X continues the same type only."""
    out, cur = [], None
    for tok, tag in zip(tokens, tags):
        if tag.startswith("I-") and cur is not None and cur[0] == tag[2:]:
            cur[1].append(tok)
            continue
        if cur is not None:
            out.append((cur[0], tuple(cur[1])))
        cur = (tag[2:], [tok]) if tag.startswith("B-") else None
    if cur is not None:
        out.append((cur[0], tuple(cur[1])))
    return out


NER = [
    {"tokens": ["John", "Smith", "lives", "in", "New", "York", ".", "He", "works", "at", "Acme", "Corp", "now"],
     "tags": ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O", "O", "O", "O", "B-ORG", "I-ORG", "O"]},
    {"tokens": list("我在北京大学读书很开心"), "tags": ["O", "O", "B-ORG", "I-ORG", "I-ORG", "I-ORG", "O", "O", "O", "O", "O"]},
    # An orphan I- after O: dropping that O would join it to the entity before.
    {"tokens": ["Paris", "and", "London", "x"], "tags": ["B-LOC", "O", "I-LOC", "O"]},
    {"tokens": ["a", "b", "of", "the"], "tags": ["O", "O", "O", "O"]},
]


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_deterministic_seed_sensitive_and_inputs_untouched(suite):
    corpus = _text_corpus(50, 10)
    before = copy.deepcopy(corpus)
    a = perturb_records(corpus, "sequence_classification", suite, 0.3, seed=1)
    assert a == perturb_records(corpus, "sequence_classification", suite, 0.3, seed=1)
    assert a != perturb_records(corpus, "sequence_classification", suite, 0.3, seed=2)
    assert a != corpus and corpus == before
    assert all(x["label"] == y["label"] for x, y in zip(a, corpus))


@pytest.mark.parametrize("suite", sorted(SUITES))
@pytest.mark.parametrize("task", ["sequence_classification", "token_classification"])
def test_rate_zero_is_identity(suite, task):
    records = NER if task == "token_classification" else _text_corpus(5) + [{"text": "  two  spaces ", "label": "x"}]
    assert perturb_records(records, task, suite, 0.0, seed=3) == records


def test_record_result_independent_of_other_records():
    corpus = _text_corpus(10)
    other = [{"text": "something else entirely", "label": "neg"}] + corpus[1:]
    a = perturb_records(corpus, "sequence_classification", "typo", 0.5, seed=0)
    b = perturb_records(other, "sequence_classification", "typo", 0.5, seed=0)
    assert a[1:] == b[1:]


def test_measured_rate_typo_and_word_drop():
    corpus = _text_corpus(100, 20)  # 2000 words
    n = sum(len(r["text"].split()) for r in corpus)
    typo = perturb_records(corpus, "sequence_classification", "typo", 0.2, seed=5)
    changed = sum(a != b for r, p in zip(corpus, typo) for a, b in zip(r["text"].split(), p["text"].split()))
    assert all(len(r["text"].split()) == len(p["text"].split()) for r, p in zip(corpus, typo))
    assert 0.15 <= changed / n <= 0.25
    dropped = perturb_records(corpus, "sequence_classification", "word_drop", 0.2, seed=5)
    kept = sum(len(p["text"].split()) for p in dropped)
    assert 0.15 <= 1 - kept / n <= 0.25
    dup = perturb_records(corpus, "sequence_classification", "word_dup", 0.2, seed=5)
    assert 0.15 <= sum(len(p["text"].split()) for p in dup) / n - 1 <= 0.25


@pytest.mark.parametrize("suite", sorted(SUITES))
@pytest.mark.parametrize("seed", range(5))
def test_ner_alignment_and_gold_entities_kept(suite, seed):
    out = perturb_records(NER, "token_classification", suite, 0.6, seed=seed)
    for rec, new in zip(NER, out):
        assert len(new["tokens"]) == len(new["tags"]) and new["tokens"]
        if suite in WORD_SUITES:  # char suites edit entity words on purpose; their tags are checked below
            assert _entities(new["tokens"], new["tags"]) == _entities(rec["tokens"], rec["tags"])
        else:
            assert new["tags"] == rec["tags"] and all(new["tokens"])
            for old, tok in zip(rec["tokens"], new["tokens"]):
                if has_cjk(old):
                    assert tok == old


def test_ner_word_drop_never_drops_everything_and_only_o():
    rec = {"tokens": ["a", "b", "c"], "tags": ["O", "O", "O"]}
    for seed in range(20):
        assert perturb_records([rec], "token_classification", "word_drop", 1.0, seed)[0]["tokens"]
    out = perturb_records(NER[:1], "token_classification", "word_drop", 1.0, seed=0)[0]
    assert [t for t in out["tags"] if t != "O"] == [t for t in NER[0]["tags"] if t != "O"]
    dup = perturb_records(NER[:1], "token_classification", "word_dup", 1.0, seed=0)[0]
    assert Counter(dup["tags"])["O"] == 2 * Counter(NER[0]["tags"])["O"]


def test_one_char_token_survives_drop():
    for seed in range(50):
        assert perturb._drop("a", random.Random(seed)) is None
        assert len(perturb._drop("ab", random.Random(seed))) == 1


def test_keyboard_replaces_with_a_neighbour_keeping_case():
    words = ["Hello", "WORLD", "keyboard", "Typing", "quiz"] * 20
    rec = [{"text": " ".join(words), "label": "x"}]
    new = perturb_records(rec, "sequence_classification", "keyboard", 1.0, seed=0)[0]["text"].split()
    for old, tok in zip(words, new):
        diffs = [(a, b) for a, b in zip(old, tok) if a != b]
        assert len(tok) == len(old) and len(diffs) == 1
        a, b = diffs[0]
        assert b.lower() in KEYBOARD_NEIGHBOURS[a.lower()] and a.isupper() == b.isupper()


def test_swap_keeps_characters_and_ends():
    rng = random.Random(0)
    for word in _words(rng, 200):
        new = perturb._swap(word, rng)
        if new is None:
            continue
        assert new != word and Counter(new) == Counter(word) and new[0] == word[0] and new[-1] == word[-1]


def test_case_changes_only_case():
    words = ["Hello", "world", "NASA", "iPhone", "42", "x"] * 10
    rec = [{"text": " ".join(words), "label": "x"}]
    new = perturb_records(rec, "sequence_classification", "case", 0.5, seed=0)[0]["text"].split()
    assert len(new) == len(words) and new != words
    assert all(a.lower() == b.lower() for a, b in zip(words, new))


def test_chinese_text():
    rng = random.Random(0)
    chars = [chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(2000)]
    corpus = [{"text": "".join(chars[i:i + 20]), "label": "x"} for i in range(0, 2000, 20)]
    for suite in CHAR_SUITES:
        assert perturb_records(corpus, "sequence_classification", suite, 1.0, seed=0) == corpus
    out = perturb_records(corpus, "sequence_classification", "word_drop", 0.2, seed=0)
    kept = sum(len(r["text"]) for r in out)
    assert all(" " not in r["text"] for r in out)
    assert 0.15 <= 1 - kept / 2000 <= 0.25
    # Mixed text: the Latin run is a word a typo can touch, the CJK characters are not.
    mixed = perturb_records([{"text": "我爱Transformer模型", "label": "x"}], "sequence_classification", "typo", 1.0, 0)
    t = mixed[0]["text"]
    assert t.startswith("我爱") and t.endswith("模型") and t != "我爱Transformer模型"


def test_text_pair_and_multiple_choice():
    rec = [{"text": "the quick brown fox", "text_pair": "jumps over the lazy dog", "label": "yes"}]
    out = perturb_records(rec, "sequence_classification", "typo", 1.0, seed=0)[0]
    assert out["text"] != rec[0]["text"] and out["text_pair"] != rec[0]["text_pair"] and out["label"] == "yes"
    mc = [{"question": "Which organ produces insulin in the body", "choices": ["liver", "pancreas", "kidney"], "label": "B"}]
    for suite in SUITES:
        new = perturb_records(mc, "multiple_choice", suite, 1.0, seed=0)[0]
        assert new["choices"] == mc[0]["choices"] and new["label"] == "B"
    assert perturb_records(mc, "multiple_choice", "typo", 1.0, seed=0)[0]["question"] != mc[0]["question"]


def test_bad_suite_and_rate():
    with pytest.raises(ConfigError, match=r"robustness\.suites: unknown suite 'nope'; available: \["):
        perturb_records([], "sequence_classification", "nope", 0.1, seed=0)
    for rate in (-0.1, 1.5):
        with pytest.raises(ConfigError, match=r"robustness\.rate"):
            perturb_records([], "sequence_classification", "typo", rate, seed=0)
