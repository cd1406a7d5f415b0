"""The reranker's fused score: the cross-encoder's logit minus beta * log(1 + first-stage position),
beta chosen on validation NDCG@10."""

from __future__ import annotations

import pytest
import torch

from tunelab.recommend.module import BETAS, RerankModule, choose_beta, fused_ranks


def test_fused_ranks_by_hand():
    # the cross-encoder prefers the last of three candidates; the target is the first stage's top item
    ranks = fused_ranks(torch.tensor([0.0, 1.0, 2.0]), pos=0, betas=(0.0, 1.0, 2.0, 1000.0))
    # beta 1: 0 vs 1 - log 2 = 0.31 vs 2 - log 3 = 0.90 -> still last; beta 2: 0 vs -0.39 vs -0.20 -> first
    assert ranks == [3.0, 3.0, 1.0, 1.0]
    # ties count against the target, as in full ranking
    assert fused_ranks(torch.tensor([1.0, 1.0]), pos=1, betas=(0.0,)) == [2.0]


def test_validation_picks_the_beta_with_the_best_ndcg_and_ties_go_to_the_smaller():
    betas = (0.0, 1.0, 1000.0)
    by_beta = torch.tensor([[5.0, 2.0, 1.0], [4.0, 3.0, 1.0]], dtype=torch.float64)  # the first stage's order wins
    assert choose_beta(by_beta, betas) == 1000.0
    assert choose_beta(torch.tensor([[1.0, 1.0, 1.0]], dtype=torch.float64), betas) == 0.0


def test_the_chosen_beta_travels_in_the_checkpoint():
    module = RerankModule(torch.nn.Linear(1, 1), {"lr": 1e-3})
    module.beta = BETAS[3]
    ckpt: dict = {}
    module.on_save_checkpoint(ckpt)
    fresh = RerankModule(torch.nn.Linear(1, 1), {"lr": 1e-3})
    assert fresh.beta is None
    fresh.on_load_checkpoint(ckpt)
    assert fresh.beta == pytest.approx(BETAS[3])


def test_a_checkpoint_saved_before_any_validation_keeps_the_beta_just_chosen():
    # the runner validates the tested checkpoint (choosing beta), then tests it: loading the same
    # checkpoint again must not reset the choice (the 1-epoch recipe never validates inside fit)
    early: dict = {}
    RerankModule(torch.nn.Linear(1, 1), {"lr": 1e-3}).on_save_checkpoint(early)
    module = RerankModule(torch.nn.Linear(1, 1), {"lr": 1e-3})
    module.beta = 0.25
    module.on_load_checkpoint(early)
    assert early["rerank_beta"] is None and module.beta == 0.25
