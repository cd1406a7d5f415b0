"""AdamW groups and the warmup-then-linear-decay schedule."""

import pytest
import torch
from torch import nn

from tunelab.errors import ConfigError
from tunelab.optim import adamw, build_optimizer, param_groups


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.lin = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


def test_no_decay_on_bias_and_layernorm_and_frozen_excluded():
    m = Block()
    decay, no_decay = param_groups(m, 0.01)
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert ids(decay["params"]) == {id(m.emb.weight), id(m.lin.weight)}
    assert ids(no_decay["params"]) == {id(m.lin.bias), id(m.norm.weight), id(m.norm.bias)}
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.01


def test_warmup_then_linear_decay_to_zero():
    m = Block()
    opt, sched = build_optimizer(m, {"lr": 1.0, "weight_decay": 0.0, "warmup_ratio": 0.1}, total_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 0.1 and abs(lrs[9] - 1.0) < 1e-9  # ramps up over 10 warmup steps
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))  # then only decays
    assert lrs[-1] <= 0.02
    assert isinstance(opt, torch.optim.AdamW)


def _lr_after_warmup(total_steps):
    m = Block()
    opt, sched = build_optimizer(m, {"lr": 1.0, "weight_decay": 0.0, "warmup_ratio": 0.1}, total_steps=total_steps)
    for _ in range(20):  # past the 10 warmup steps of a 100-step run
        opt.step()
        sched.step()
    return opt.param_groups[0]["lr"]


def test_lr_is_positive_after_warmup_for_a_known_total():
    assert 0.5 < _lr_after_warmup(100) < 1.0


@pytest.mark.parametrize("total", [-1, 0, float("inf")])
def test_unknown_total_steps_is_a_one_line_error_naming_max_steps(total):
    # Streaming (IterableDataset) data has no length: Lightning estimates -1 steps (inf when
    # max_epochs=-1), and the schedule would then train at lr 0 on every step.
    with pytest.raises(ConfigError, match=r"^trainer\.max_steps: .*streaming data has no length; set trainer\.max_steps"):
        _lr_after_warmup(total)


def _tiny_peft(peft_config):
    from peft import get_peft_model
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.for_model("bert", vocab_size=100, hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    return get_peft_model(AutoModelForSequenceClassification.from_config(config), peft_config)


def _decayed_names(model):
    decay, _ = param_groups(model, 0.01)
    ids = {id(p) for p in decay["params"]}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def test_ia3_scaling_vectors_are_not_weight_decayed():
    from peft import IA3Config, TaskType

    model = _tiny_peft(IA3Config(task_type=TaskType.SEQ_CLS))
    scales = [n for n, p in model.named_parameters() if ".ia3_l." in n]
    # peft stores them 2-D ((out, 1) or (1, in)), so an ndim rule alone would decay them toward 0.
    assert scales and all(dict(model.named_parameters())[n].ndim == 2 for n in scales)
    decayed = _decayed_names(model)
    assert not decayed & set(scales)
    assert any("classifier" in n and n.endswith("weight") for n in decayed)  # the head still decays


def test_adalora_singular_values_are_not_weight_decayed():
    from peft import AdaLoraConfig, TaskType

    model = _tiny_peft(AdaLoraConfig(task_type=TaskType.SEQ_CLS, total_step=10))
    decayed = _decayed_names(model)
    assert not any(".lora_E." in n for n in decayed)
    assert any(".lora_A." in n for n in decayed) and any(".lora_B." in n for n in decayed)


def test_cpu_parameters_get_the_fused_adamw_kernel():
    # torch's CPU default is a per-tensor Python loop, 4.5x slower on MiniLM (experiments/trainer_overhead).
    opt, _ = build_optimizer(Block(), {"lr": 1e-3}, total_steps=10)
    assert all(g["fused"] for g in opt.param_groups)


def test_fused_adamw_takes_the_same_steps_as_the_default_kernel():
    torch.manual_seed(0)
    a, b = Block(), Block()
    b.load_state_dict(a.state_dict())
    start = {k: v.clone() for k, v in a.state_dict().items()}
    fused = adamw(param_groups(a, 0.01), lr=1e-2)
    plain = torch.optim.AdamW(param_groups(b, 0.01), lr=1e-2)
    assert fused.param_groups[0]["fused"] and not plain.param_groups[0]["fused"]
    x = torch.arange(8).reshape(2, 4) % 10
    # A regression target, so every gradient is real signal: the squared LayerNorm output sums
    # to a constant, and Adam would scale that loss's round-off gradients up to lr-sized steps
    # that differ between CPUs (it failed on CI's CPU while passing on this one).
    target = torch.randn(2, 4, 4)
    for step in range(5):
        for opt, m in ((fused, a), (plain, b)):
            opt.zero_grad()
            (m.norm(m.lin(m.emb(x))) - target).pow(2).sum().mul(step + 1).backward()
            opt.step()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
        if p.requires_grad:  # the comparison is between parameters that actually trained
            assert not torch.equal(p, start[name]), name


def test_parameters_without_a_fused_kernel_keep_torchs_default():
    m = nn.Linear(2, 2, device="meta")  # not a device with a fused kernel
    opt = adamw(param_groups(m, 0.01), lr=1e-3)
    assert not any(g["fused"] for g in opt.param_groups)
