"""ACC/BWT/FWT/forgetting on a hand-computed 3-task case, and O-LoRA's orthogonality penalty."""

import pytest
import torch

from tunelab.continual.lora_strategies import orthogonality_penalty
from tunelab.continual.metrics import acc, bwt, cl_metrics, forgetting, fwt

R = [[0.9, 0.2, 0.1],
     [0.6, 0.8, 0.3],
     [0.5, 0.7, 0.9]]
B = [0.3, 0.25, 0.2]


def test_metrics_by_hand():
    assert acc(R) == pytest.approx((0.5 + 0.7 + 0.9) / 3)
    assert bwt(R) == pytest.approx(((0.5 - 0.9) + (0.7 - 0.8)) / 2)          # -0.25
    assert fwt(R, B) == pytest.approx(((0.2 - 0.25) + (0.3 - 0.2)) / 2)      # 0.025
    # task 0: max(0.9, 0.6) - 0.5 = 0.4; task 1: max(0.8) - 0.7 = 0.1
    assert forgetting(R) == pytest.approx((0.4 + 0.1) / 2)
    assert cl_metrics([[0.7]], [0.1]) == {"acc": 0.7, "bwt": None, "fwt": None, "forgetting": None}
    with pytest.raises(ValueError):
        acc([[1.0, 2.0]])


def test_olora_penalty_zero_when_orthogonal_positive_otherwise():
    eye = torch.eye(8)
    old, new = eye[:2], eye[2:4]  # rank-2 subspaces of R^8 with no overlap
    assert orthogonality_penalty([old], new).item() == 0.0
    assert orthogonality_penalty([old], old + 0.1 * new).item() > 0
    assert orthogonality_penalty([], new).item() == 0.0
