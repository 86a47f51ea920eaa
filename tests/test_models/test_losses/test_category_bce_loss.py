import math

import pytest
import torch
from mmseg.registry import MODELS

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
