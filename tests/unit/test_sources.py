"""Local files vs hub: one canonical record shape; splits, label vocabulary and their errors."""

import json

import pytest

from tunelab import tasks
from tunelab.data import sources
from tunelab.errors import ConfigError, DataError


def _write_conll(path, sentences):
    path.write_text("\n\n".join("\n".join(f"{t}\t{g}" for t, g in s) for s in sentences) + "\n")


NER = [[("Breast", "B-Disease"), ("cancer", "I-Disease"), ("risk", "O")], [("no", "O"), ("tumour", "B-Disease")]]


def _ner_source(tmp_path, **files):
    for name, sents in files.items():
        _write_conll(tmp_path / f"{name}.tsv", sents)
    return {"format": "conll", "files": {k: f"{k}.tsv" for k in files}, "options": {"sep": "\t"}}


def test_local_conll_loads_with_fingerprint_and_sizes(tmp_path):
    src = _ner_source(tmp_path, train=NER, validation=NER[:1], test=NER[1:])
    got = sources.load_splits("token_classification", src, None, tmp_path)
    assert got.splits["train"][0] == {"tokens": ["Breast", "cancer", "risk"], "tags": ["B-Disease", "I-Disease", "O"]}
    assert got.meta["origin"] == "local" and got.meta["sizes"] == {"train": 2, "validation": 1, "test": 1}
    assert len(got.meta["fingerprint"]) == 16


def test_missing_file_without_hub_names_the_path_and_env(tmp_path):
    src = {"format": "conll", "files": {"train": "nope/train.tsv", "validation": "v.tsv", "test": "t.tsv"}}
    with pytest.raises(DataError, match=r"nope/train.tsv: no such file.*TUNELAB_DATA_DIR"):
        sources.load_splits("token_classification", src, None, tmp_path)


def test_empty_split_is_an_error_naming_the_file(tmp_path):
    src = _ner_source(tmp_path, train=NER, validation=NER, test=[])
    (tmp_path / "test.tsv").write_text("\n\n")
    with pytest.raises(DataError, match=r"test.tsv: split 'test' is empty"):
        sources.load_splits("token_classification", src, None, tmp_path)


def test_unseen_label_in_test_is_an_error(tmp_path):
    src = _ner_source(tmp_path, train=NER, validation=NER, test=[[("aspirin", "B-Chemical")]])
    got = sources.load_splits("token_classification", src, None, tmp_path)
    ner = tasks.get("token_classification")
    names = ner.label_names(got.splits["train"])
    assert names == ["O", "B-Disease", "I-Disease"]
    with pytest.raises(DataError, match=r"test.tsv: label 'B-Chemical'.*never appears in the training split"):
        ner.check_known(names, got.splits, got.meta["files"])


def test_seeded_stratified_split_is_recorded(tmp_path):
    (tmp_path / "all.txt").write_text("".join(f"s{i}@{'pos' if i % 3 else 'neg'}\n" for i in range(60)), encoding="latin-1")
    src = {"format": "delimited", "files": {"train": "all.txt"}, "options": {"delimiter": "@"}}
    spec = {"source": "train", "fractions": {"train": 0.8, "validation": 0.1, "test": 0.1}, "seed": 7}
    got = sources.load_splits("sequence_classification", src, spec, tmp_path)
    assert got.meta["sizes"] == {"train": 48, "validation": 6, "test": 6}
    assert got.meta["split"]["seed"] == 7 and got.meta["split"]["fractions"]["test"] == 0.1
    again = sources.load_splits("sequence_classification", src, spec, tmp_path)
    assert again.splits == got.splits
    assert sum(r["label"] == "neg" for r in got.splits["test"]) == 2  # 1/3 of 6, stratified


def test_missing_split_is_a_config_error(tmp_path):
    src = _ner_source(tmp_path, train=NER, test=NER)
    with pytest.raises(ConfigError, match=r"no 'validation' split"):
        sources.load_splits("token_classification", src, None, tmp_path)


# -- the hub path, exercised offline on local files shaped like the hub's ------------------------

def _hub_shaped_parquet(tmp_path):
    """NER as on the hub: int tags with ClassLabel names in the features (as ncbi/ncbi_disease)."""
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    feats = Features({"id": Value("string"), "tokens": Sequence(Value("string")),
                      "ner_tags": Sequence(ClassLabel(names=["O", "B-Disease", "I-Disease"]))})
    rows = {"id": ["0", "1"], "tokens": [["Breast", "cancer"], ["no", "tumour"]], "ner_tags": [[1, 2], [0, 1]]}
    files = {}
    for split in ("train", "validation", "test"):
        path = tmp_path / f"{split}.parquet"
        Dataset.from_dict(rows, features=feats).to_parquet(str(path))
        files[split] = str(path)
    return files


def test_hub_conversion_classlabel_ids_to_tags(tmp_path):
    files = _hub_shaped_parquet(tmp_path)
    src = {"format": "conll", "files": {"train": "absent.tsv"},
           "hub": {"path": "parquet", "data_files": files, "columns": {"tokens": "tokens", "tags": "ner_tags"}}}
    got = sources.load_splits("token_classification", src, None, tmp_path)
    assert got.meta["origin"] == "hub"
    assert got.splits["train"][0] == {"tokens": ["Breast", "cancer"], "tags": ["B-Disease", "I-Disease"]}


def test_hub_conversion_plain_int_labels_use_configured_names(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps({"sentence": f"s{i}", "label": i % 3}) for i in range(30)))
    src = {"format": "table", "files": {"train": "absent.csv"},
           "hub": {"path": "json", "data_files": {"train": str(path)}, "columns": {"text": "sentence", "label": "label"},
                   "label_names": ["negative", "neutral", "positive"]}}
    spec = {"source": "train", "fractions": {"train": 0.6, "validation": 0.2, "test": 0.2}, "seed": 1}
    got = sources.load_splits("sequence_classification", src, spec, tmp_path)
    assert {r["label"] for r in got.splits["train"]} == {"negative", "neutral", "positive"}
    assert {"text": "s1", "label": "neutral"} in sum(got.splits.values(), [])


def test_hub_unreachable_is_one_line(tmp_path):
    src = {"format": "conll", "files": {"train": "absent.tsv"},
           "hub": {"path": "json", "data_files": {"train": str(tmp_path / "missing.jsonl")}}}
    with pytest.raises(DataError, match=r"data.source.hub.path: could not load 'json'") as err:
        sources.load_splits("token_classification", src, None, tmp_path)
    assert "\n" not in str(err.value)
