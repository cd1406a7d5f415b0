"""Full-ranking HR/NDCG/MRR on hand-computed cases; seen items never rank."""

from __future__ import annotations

import math

import pytest
import torch

from tunelab.recommend.metrics import seen_mask, summarize, target_ranks

# Five items (columns 1..5; column 0 is padding), three users.
SCORES = torch.tensor([[0.0, 0.9, 0.8, 0.7, 0.6, 0.5],    # target 3; item 1 seen -> only item 2 above: rank 2
                       [0.0, 0.9, 0.8, 0.7, 0.6, 0.5],    # target 5, nothing seen: rank 5
                       [0.0, 0.1, 0.8, 0.7, 0.6, 0.5]])   # target 2; items 1, 3 seen: rank 1
TARGETS = torch.tensor([3, 5, 2])
SEEN = torch.tensor([[1, 0], [0, 0], [1, 3]])  # padded with 0


def test_ranks_exclude_seen_items():
    ranks = target_ranks(SCORES, TARGETS, seen_mask(SEEN, 6))
    assert ranks.tolist() == [2.0, 5.0, 1.0]
    # without excluding the seen item 1, user 0's target would rank 3rd
    assert target_ranks(SCORES[:1], TARGETS[:1], seen_mask(torch.tensor([[0]]), 6)).item() == 3.0


def test_hr_ndcg_mrr_equal_hand_computed_values():
    ranks = target_ranks(SCORES, TARGETS, seen_mask(SEEN, 6))
    m = summarize(ranks, k=2)
    assert m["hr_2"] == pytest.approx(2 / 3)
    assert m["ndcg_2"] == pytest.approx((1 / math.log2(3) + 0 + 1) / 3)  # rank 2: 1/log2(3); rank 5 outside k
    assert m["mrr"] == pytest.approx((1 / 2 + 1 / 5 + 1) / 3)
    m10 = summarize(ranks, k=10, prefix="test/")
    assert m10["test/hr_10"] == 1.0
    assert m10["test/ndcg_10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(6) + 1) / 3)


def test_ties_count_against_the_target():
    """A constant model must not score HR = 1: items tied with the target rank above it."""
    flat = torch.zeros(1, 6)
    assert target_ranks(flat, torch.tensor([4]), seen_mask(torch.tensor([[0]]), 6)).item() == 5.0


def test_empty_subset_is_nan_not_an_error():
    m = summarize(torch.tensor([]), k=10, prefix="test/cold_")
    assert all(math.isnan(v) for v in m.values())


def test_popularity_buckets_by_hand():
    from tunelab.recommend.popularity import bucket_names, by_popularity

    assert bucket_names() == ["0-5", "6-20", "21-50", "51-100", ">100"]
    # ranks 1 and 4 on cold items (counts 0 and 5), rank 20 on a 6-count item, rank 2 on a popular one
    got = by_popularity([1, 4, 20, 2], [0, 5, 6, 500])
    assert got["0-5"] == {"users": 2.0, "hr_10": 1.0, "ndcg_10": pytest.approx((1 + 1 / math.log2(5)) / 2),
                          "mrr": pytest.approx((1 + 1 / 4) / 2)}
    assert got["6-20"]["hr_10"] == 0.0 and got["6-20"]["mrr"] == pytest.approx(1 / 20)
    assert got[">100"]["ndcg_10"] == pytest.approx(1 / math.log2(3))
    assert got["21-50"]["users"] == 0 and math.isnan(got["21-50"]["hr_10"])
