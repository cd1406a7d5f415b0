"""Batch prediction reproduces evaluation, and served feedback closes the loop through training.

* predict.py on a run directory (the run-dir loading path: the run's config + tested checkpoint),
  fed the test file's words, scored against the gold tags with the metric's own EntityF1, gives
  exactly the test F1 the run recorded; fed the same sentences as plain text, the same again.
* A model that misses a new disease name gets feedback (the /feedback code path), a short re-train
  with ``data.extra_train=[feedback.jsonl]`` folds it in (recorded in run_info) and the new model
  finds it.
"""

from __future__ import annotations

import json
import random

import torch

from tests.helpers import FILLER, ner_overrides
from tunelab.data.readers import read_conll
from tunelab.metrics.entities import EntityF1
from tunelab.serving import backend
from tunelab.serving.batch import predict_file
from tunelab.serving.feedback import FeedbackWriter, to_record
from tunelab.serving.loading import describe
from tunelab.serving.predictor import Predictor
from tunelab.training import train


def entity_f1(labels, gold_tags, pred_tags) -> float:
    metric = EntityF1(labels)
    ids = {n: i for i, n in enumerate(labels)}
    for gold, pred in zip(gold_tags, pred_tags):
        metric.update(torch.tensor([[ids[t] for t in pred]]), torch.tensor([[ids[t] for t in gold]]))
    return float(metric.compute()["f1"])


def spans_to_tags(n_words, entities):
    tags = ["O"] * n_words
    for e in entities:
        tags[e["start_word"]] = f"B-{e['label']}"
        for w in range(e["start_word"] + 1, e["end_word"]):
            tags[w] = f"I-{e['label']}"
    return tags


def predictor_of(run):
    spec = describe(str(run))
    return Predictor.from_spec(spec, backend.load("pytorch", spec))


def found(predictor, text, word) -> bool:
    (answer,) = predictor.predict([{"text": text}])
    return any(e["text"] == word for e in answer["entities"])


def test_predict_py_reproduces_test_f1_and_feedback_closes_the_loop(tiny_cfg, tmp_path, synthetic):
    common = [*ner_overrides(synthetic), "trainer.max_epochs=2"]
    run = tmp_path / "run"
    metrics = train(tiny_cfg(*common, f"paths.output_dir={run}"))
    labels = json.loads((run / "labels.json").read_text())

    # 1. predict.py's entities scored against the gold tags == the run's test F1, exactly.
    gold = read_conll(synthetic / "test.tsv")
    words_in, text_in = tmp_path / "test.jsonl", tmp_path / "test.txt"
    words_in.write_text("".join(json.dumps({"tokens": r["tokens"]}) + "\n" for r in gold))
    text_in.write_text("".join(" ".join(r["tokens"]) + "\n" for r in gold))
    for src in (words_in, text_in):
        out = tmp_path / f"{src.stem}_{src.suffix[1:]}.jsonl"
        predict_file({"model_path": str(run), "input": str(src), "output": str(out), "progress": False, "window": 16})
        answers = [json.loads(x) for x in out.read_text().splitlines()]
        if src is words_in:
            pred = [a["tags"] for a in answers]
            assert pred == [spans_to_tags(len(r["tokens"]), a["entities"]) for r, a in zip(gold, answers)]
        else:  # character spans back to words: the words of the file, space-joined
            pred = []
            for r, a in zip(gold, answers):
                word_at, at = {}, 0  # start and end character of each word -> its index
                for w, word in enumerate(r["tokens"]):
                    word_at[("start", at)], word_at[("end", at + len(word))] = w, w + 1
                    at += len(word) + 1
                ents = [{"label": e["label"], "start_word": word_at[("start", e["start"])],
                         "end_word": word_at[("end", e["end"])]} for e in a["entities"]]
                pred.append(spans_to_tags(len(r["tokens"]), ents))
        assert 0 < metrics["test/f1"] < 1, metrics
        assert entity_f1(labels, [r["tags"] for r in gold], pred) == metrics["test/f1"], src

    # 2. The model misses a disease it never saw ...
    before = predictor_of(run)
    held_out = "the patient had zorblax and was treated"
    assert not found(before, held_out, "zorblax")
    # ... users correct it (the code behind POST /feedback) ...
    feedback = tmp_path / "serve" / "feedback.jsonl"
    writer = FeedbackWriter(feedback, model=str(run))
    rng = random.Random(0)
    for _ in range(24):
        left, right = rng.sample(FILLER, 3), rng.sample(FILLER, 2)
        text = " ".join([*left, "zorblax", *right])
        start = text.index("zorblax")
        (answer,) = before.predict([{"text": text}])
        writer.append(to_record("token_classification", labels, {
            "text": text, "correct": [{"start": start, "end": start + 7, "label": "Disease"}]}),
            {"text": text, "prediction": answer})
    # ... a short re-train folds the feedback in, and the new model gets it right.
    run2 = tmp_path / "run2"
    train(tiny_cfg(*common, f"paths.output_dir={run2}", f"data.extra_train=[{feedback}]"))
    extra = json.loads((run2 / "run_info.json").read_text())["data"]["extra_train"]
    assert [(e["path"], e["records"]) for e in extra] == [(str(feedback.resolve()), 24)]
    assert found(predictor_of(run2), held_out, "zorblax")
    assert describe(str(run2)).info["extra_train"] == extra  # GET /info says what the model was trained on
