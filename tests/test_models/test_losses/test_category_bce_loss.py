import math

import pytest
import torch
from mmseg.registry import MODELS

from dcp_mm.models.losses import constant_prediction_bce
from dcp_mm.structures import CategorySelection


def test_hand_computed_value_with_padding_and_ignore():
    loss = MODELS.build(dict(type='CategoryBCELoss'))
    # one image, 2 pixels: label 4 and ignore; categories [4, 1, pad]
    logits = torch.tensor([[[[0.0, 9.0]], [[2.0, 9.0]], [[5.0, 9.0]]]])
    label = torch.tensor([[[4, 255]]])
    sel = CategorySelection(
        torch.tensor([[1, 4, 1]])[:, [1, 0, 2]],
        torch.tensor([[True, True, False]]))
    # counted pairs: pixel 0 x (cat 4: target 1, logit 0), (cat 1: 0, 2)
    expected = (math.log(2) + math.log(1 + math.exp(2))) / 2
    out = loss(logits, label, sel)
    assert out.item() == pytest.approx(expected, rel=1e-5)
    logits.requires_grad_(True)
    loss(logits, label, sel).backward()
    assert logits.grad[0, 2].abs().sum() == 0  # padded category: no grad
    assert logits.grad[0, :, 0, 1].abs().sum() == 0  # ignored pixel


def test_errors():
    with pytest.raises(ValueError, match='loss_'):
        MODELS.build(dict(type='CategoryBCELoss', loss_name='bce'))
    loss = MODELS.build(dict(type='CategoryBCELoss'))
    sel = CategorySelection(torch.tensor([[0]]), torch.tensor([[True]]))
    with pytest.raises(ValueError, match='outside the vocabulary'):
        loss(
            torch.zeros(1, 1, 1, 2),
            torch.tensor([[[0, 7]]]),
            sel,
            num_classes=5)
    with pytest.raises(ValueError, match='do not match'):
        loss(torch.zeros(1, 2, 1, 2), torch.tensor([[[0, 1]]]), sel)


def _entropy(q):
    return 0.0 if q in (0.0, 1.0) else -(
        q * math.log(q) + (1 - q) * math.log(1 - q))


def test_constant_prediction_baseline_by_hand():
    # image 0: labels 4, 255, 1, 1; categories [4, 1, pad]:
    #   6 counted pairs, 3 positive -> q = 1/2
    # image 1: labels 0 x 4; categories [0, 2, 3]: 12 pairs, 4 positive
    #   -> q = 1/3 (= 1/K: every labelled pixel's category is selected)
    label = torch.tensor([[[4, 255], [1, 1]], [[0, 0], [0, 0]]])
    sel = CategorySelection(
        torch.tensor([[4, 1, 4], [0, 2, 3]]),
        torch.tensor([[True, True, False], [True, True, True]]))
    expected = (6 * math.log(2) + 12 * _entropy(1 / 3)) / 18
    base = constant_prediction_bce(label, sel, ignore_index=255)
    assert base.item() == pytest.approx(expected, rel=1e-6)
    assert not base.requires_grad
    # it is the loss of predicting q_b everywhere, and any other constant
    # does worse
    loss = MODELS.build(dict(type='CategoryBCELoss'))

    def constant_loss(q0, q1):
        logits = torch.empty(2, 3, 2, 2)
        logits[0], logits[1] = torch.logit(torch.tensor(q0)), torch.logit(
            torch.tensor(q1))
        return loss(logits, label, sel).item()

    assert constant_loss(0.5, 1 / 3) == pytest.approx(base.item(), rel=1e-5)
    assert constant_loss(0.4, 1 / 3) > base.item()
    assert constant_loss(0.5, 0.3) > base.item()


def test_constant_prediction_baseline_edge_cases():
    sel = CategorySelection(torch.tensor([[2]]), torch.tensor([[True]]))
    # the only category is absent: predicting 0 is perfect
    assert constant_prediction_bce(torch.tensor([[[1, 1]]]), sel).item() == 0.0
    # nothing counted
    assert constant_prediction_bce(torch.tensor([[[255, 255]]]),
                                   sel).item() == 0.0
    with pytest.raises(ValueError, match='seg_label must be'):
        constant_prediction_bce(torch.zeros(2, 1, 2, dtype=torch.long), sel)
