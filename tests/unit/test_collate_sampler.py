"""Dynamic padding and the seeded (length-grouped) batch order."""

import pytest

from tunelab.data.collate import PadCollator
from tunelab.data.collate import IGNORE
from tunelab.data.samplers import SeededBatchSampler


def _item(n, words):
    return {"input_ids": list(range(1, n + 1)), "attention_mask": [1] * n, "labels": [5] * n,
            "word_labels": [1] * words, "word_starts": list(range(1, words + 1))}


def test_pads_to_longest_in_batch_not_max_length():
    batch = PadCollator(pad_token_id=0)([_item(3, 2), _item(5, 4)])
    assert batch["input_ids"].shape == (2, 5)
    assert batch["input_ids"][0].tolist() == [1, 2, 3, 0, 0]
    assert batch["attention_mask"][0].tolist() == [1, 1, 1, 0, 0]
    assert batch["labels"][0].tolist() == [5, 5, 5, IGNORE, IGNORE]
    assert batch["word_labels"][0].tolist() == [1, 1, IGNORE, IGNORE]
    assert batch["word_starts"][0].tolist() == [1, 2, -1, -1]


def test_fixed_padding_only_when_asked():
    batch = PadCollator(pad_token_id=0, pad_to=8)([_item(3, 2)])
    assert batch["input_ids"].shape == (1, 8)
    assert batch["word_labels"].shape == (1, 2)  # word axis is never padded to max_length


def test_sequence_labels_become_a_vector():
    batch = PadCollator(0)([{"input_ids": [1, 2], "labels": 3}, {"input_ids": [1], "labels": 0}])
    assert batch["labels"].tolist() == [3, 0]


LENGTHS = [(i * 37) % 101 + 1 for i in range(500)]


def _order(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize("group", [False, True])
def test_each_example_once_per_epoch_and_deterministic(group):
    s = SeededBatchSampler(LENGTHS, 16, seed=3, group_by_length=group)
    a = _order(s, 0)
    assert sorted(i for b in a for i in b) == list(range(len(LENGTHS)))
    assert a == _order(SeededBatchSampler(LENGTHS, 16, seed=3, group_by_length=group), 0)
    assert a != _order(s, 1), "a new epoch must reshuffle"
    assert a != _order(SeededBatchSampler(LENGTHS, 16, seed=4, group_by_length=group), 0)
    assert len(s) == len(a)


def _padding(batches):
    return sum(max(LENGTHS[i] for i in b) * len(b) - sum(LENGTHS[i] for i in b) for b in batches)


def test_grouping_by_length_cuts_padding():
    plain = _order(SeededBatchSampler(LENGTHS, 16, seed=0), 0)
    grouped = _order(SeededBatchSampler(LENGTHS, 16, seed=0, group_by_length=True), 0)
    assert _padding(grouped) < 0.3 * _padding(plain)


@pytest.mark.parametrize("train", [True, False])
def test_ranks_partition_the_batches(monkeypatch, train):
    seen = []
    for rank in range(2):
        s = SeededBatchSampler(LENGTHS[:100], 16, seed=0, shuffle=train, drop_uneven=train)
        monkeypatch.setattr(s, "_world", lambda r=rank: (r, 2))
        got = list(s)
        assert len(got) == len(s)
        seen += [i for b in got for i in b]
    assert len(seen) == len(set(seen)), "no example may be seen by two ranks"
    if not train:  # evaluation scores every example exactly once
        assert sorted(seen) == list(range(100))


def test_lightning_sets_the_epoch_through_the_dataloader():
    from lightning.fabric.utilities.data import _set_sampler_epoch
    from torch.utils.data import DataLoader

    s = SeededBatchSampler(LENGTHS, 16, seed=0, group_by_length=True)
    loader = DataLoader(list(range(len(LENGTHS))), batch_sampler=s)
    first = list(s)
    _set_sampler_epoch(loader, 1)
    assert s.epoch == 1 and list(s) != first


def test_small_eval_split_gives_every_rank_work(monkeypatch):
    got = []
    for rank in range(2):
        s = SeededBatchSampler([5, 7, 3], 16, seed=0, shuffle=False, drop_uneven=False)
        monkeypatch.setattr(s, "_world", lambda r=rank: (r, 2))
        batches = list(s)
        assert batches and len(batches) == len(s)  # Lightning rejects an empty loader on any rank
        got += [i for b in batches for i in b]
    assert sorted(got) == [0, 1, 2]
