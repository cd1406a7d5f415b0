"""ML-100K reading and the leave-one-out split: time order, seeded tie-break, the cold subset."""

from __future__ import annotations

import pytest

from tests.rec_fixture import write_ml100k
from tunelab.errors import DataError
from tunelab.recommend import movielens
from tunelab.recommend.datamodule import RecDataModule
from tunelab.recommend.movielens import Interaction
from tunelab.recommend.split import leave_one_out, order_histories


def _dm(folder, seed=0, cold_max=5):
    dm = RecDataModule("t", str(folder), {"ratings": "u.data", "items": "u.item", "genres": "u.genre"}, seed=seed,
                       cold_max=cold_max)
    dm.load()
    return dm


def test_no_users_test_or_validation_item_is_in_their_training_history(tmp_path):
    dm = _dm(write_ml100k(tmp_path / "ml"))
    s = dm.split
    assert len(s.users) == 30
    for r in range(len(s.users)):
        assert s.test[r] not in s.train[r] and s.val[r] not in s.train[r] and s.test[r] != s.val[r]
        assert len(s.train[r]) + 2 == 12


def test_ties_are_broken_by_the_seed_not_by_item_id():
    # Six items rated in the same second, listed in id order; one later item.
    its = [Interaction("u", str(i), 100, i) for i in range(1, 7)] + [Interaction("u", "7", 200, 7)]
    index = {str(i): i for i in range(1, 8)}
    orders = {seed: order_histories(its, index, seed)[0]["u"] for seed in range(5)}
    assert orders[0] == order_histories(its, index, 0)[0]["u"]  # reproducible
    assert orders[0] != [1, 2, 3, 4, 5, 6, 7]  # not id order: ordering by id leaks
    assert orders[0][:6] != sorted(orders[0][:6])
    assert len({tuple(o) for o in orders.values()}) > 1  # another seed, another order
    assert all(o[-1] == 7 for o in orders.values())  # time still decides between different seconds
    # the test target is the seeded last of the tied block's successor; the val target comes from the shuffle
    split = leave_one_out({"u": orders[0]}, 7, 5)
    assert split.test == [7] and split.val == [orders[0][5]]


def test_a_repeated_user_item_pair_keeps_its_first_interaction():
    its = [Interaction("u", "1", 1, 1), Interaction("u", "2", 2, 2), Interaction("u", "1", 3, 3), Interaction("u", "3", 4, 4)]
    hist, repeats = order_histories(its, {"1": 1, "2": 2, "3": 3}, 0)
    assert hist["u"] == [1, 2, 3] and repeats == 1


def test_cold_subset_is_test_targets_with_few_training_interactions():
    hist = {"a": [1, 2, 3, 4], "b": [1, 2, 5, 3], "c": [2, 1, 6, 5]}
    split = leave_one_out(hist, 6, cold_max=1)
    # training sequences: [1,2], [1,2], [2,1] -> items 3, 5 have 0 training interactions
    assert [split.cold(r) for r in range(3)] == [True, True, True]
    split = leave_one_out({"a": [1, 2, 3], "b": [3, 1, 2, 4]}, 4, cold_max=0)
    assert split.cold(0) is False and split.cold(1) is True  # item 3 is in b's training sequence
    assert split.meta["cold_test_users"] == 1


def test_item_text_is_title_year_and_genres(tmp_path):
    write_ml100k(tmp_path)
    items = movielens.read_items(tmp_path / "u.item", movielens.read_genre_names(tmp_path / "u.genre"))
    assert items["1"] == "Alpha Story (1991). Genres: Adventure"
    assert len(items) == 30


def test_bad_ratings_line_names_file_and_line(tmp_path):
    (tmp_path / "u.data").write_text("1\t2\t3\t100\n1 2 3 100\n")
    with pytest.raises(DataError, match=r"u.data:2: expected 'user<TAB>item<TAB>rating<TAB>unix_time'"):
        movielens.read_interactions(tmp_path / "u.data")
    (tmp_path / "u.data").write_text("1\t2\t3\tnoon\n")
    with pytest.raises(DataError, match=r"u.data:1: timestamp 'noon' is not an integer"):
        movielens.read_interactions(tmp_path / "u.data")


def test_bad_item_line_and_unknown_item_name_the_file(tmp_path):
    write_ml100k(tmp_path)
    (tmp_path / "u.item").write_text("1|Only a title|01-Jan-1995\n")
    with pytest.raises(DataError, match=r"u.item:1: expected 24 pipe-separated fields"):
        movielens.read_items(tmp_path / "u.item")
    write_ml100k(tmp_path)
    with open(tmp_path / "u.data", "a") as f:
        f.write("1\t999\t5\t890000000\n")
    with pytest.raises(DataError, match=r"u.data:361: item '999' is not in the item file"):
        _dm(tmp_path)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match=r"u.item: no such file \(set TUNELAB_DATA_DIR"):
        _dm(tmp_path)
