"""The shared Predictor on tiny random models of every servable task."""

from __future__ import annotations

import pytest

from tests.serving_helpers import NER_LABELS, save_tiny_head, tokenizer
from tunelab.serving import backend
from tunelab.serving.loading import describe
from tunelab.serving.predictor import Predictor


@pytest.fixture(scope="module")
def make(tmp_path_factory):
    def build(task, labels, batch_size=32):
        folder = tmp_path_factory.mktemp(task)
        spec = describe(str(save_tiny_head(folder, task, labels)))
        return Predictor.from_spec(spec, backend.load("pytorch", spec), tokenizer(), batch_size=batch_size)

    return build


def strip_scores(answers):
    return [{**a, "entities": [{k: v for k, v in e.items() if k != "score"} for e in a["entities"]]} for a in answers]


def test_ner_texts_of_every_kind(make):
    ner = make("token_classification", NER_LABELS)
    long = "the patient had breast cancer " * 350  # ~10k characters: cut at max_length, flagged
    texts = ["Breast cancer and diabetes.", "", "😀 🎉", "乳腺癌患者", long, "a\u200bb"]
    answers = ner.predict([{"text": t} for t in texts])
    assert len(answers) == len(texts)
    assert answers[1] == {"entities": [], "truncated": False}
    for text, answer in zip(texts, answers):
        for e in answer["entities"]:
            assert text[e["start"]:e["end"]] == e["text"] and e["label"] == "Disease" and 0 < e["score"] <= 1
    assert answers[4]["truncated"] and 0 < answers[4]["seen_chars"] < len(long)
    assert max(e["end"] for e in answers[4]["entities"]) <= answers[4]["seen_chars"]
    assert not any(a["truncated"] for i, a in enumerate(answers) if i != 4)
    # Batching never changes an answer: one text per forward pass gives the same entities.
    one = make("token_classification", NER_LABELS, batch_size=1)
    assert strip_scores(one.predict([{"text": t} for t in texts])) == strip_scores(answers)


def test_ner_word_decisions_are_evaluations(make):
    """Given words, the tags are what the task's metric_inputs decides on the evaluation encoding."""
    from tunelab.data.collate import PadCollator

    ner = make("token_classification", NER_LABELS)
    sents = [["breast", "cancer", "is", "bad"], ["asthma"], ["no", "sign", "of", "colon", "tumour", "."]]
    got = ner.predict([{"tokens": s} for s in sents])
    records = [{"tokens": s, "tags": ["O"] * len(s)} for s in sents]
    enc = ner.task.encode(records, ner.tokenizer, ner.label2id, ner.max_length)
    batch = PadCollator(ner.tokenizer.pad_token_id)(enc)
    preds, _ = ner.task.metric_inputs(ner.backend.logits(batch), batch, NER_LABELS)
    for i, s in enumerate(sents):
        assert got[i]["tags"] == [NER_LABELS[j] for j in preds[i, :len(s)].tolist()]
        for e in got[i]["entities"]:
            assert e["text"] == " ".join(s[e["start_word"]:e["end_word"]])


def test_classification_single_texts_and_pairs_in_one_call(make):
    clf = make("sequence_classification", ["neg", "neutral", "pos"])
    answers = clf.predict([{"text": "fine"}, {"text": "a", "text_pair": "b"}, {"text": ""}, {"text": "x " * 6000}])
    for a in answers:
        assert set(a["probabilities"]) == {"neg", "neutral", "pos"}
        assert sum(a["probabilities"].values()) == pytest.approx(1, abs=1e-4)
        assert a["label"] == max(a["probabilities"], key=a["probabilities"].get)
    assert [a["truncated"] for a in answers] == [False, False, False, True]


def test_pairs_and_multiple_choice(make):
    pair = make("sentence_pair_classification", ["0", "1"])
    (a,) = pair.predict([{"text": "how do I pay", "text_pair": "payment methods"}])
    assert a["label"] in ("0", "1")
    mc = make("multiple_choice", list("ABCD"))
    answers = mc.predict([{"question": "q?", "options": ["x", "y"]}, {"question": "which?", "options": ["a", "b", "c"]}])
    assert [len(a["probabilities"]) for a in answers] == [2, 3]  # option counts may differ within a call
    for a, options in zip(answers, (["x", "y"], ["a", "b", "c"])):
        assert a["text"] == options[a["option"]] and a["letter"] == "ABC"[a["option"]]
