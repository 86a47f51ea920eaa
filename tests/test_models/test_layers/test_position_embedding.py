"""The 2-D sine position embedding against the formula written out."""
import math

import pytest
import torch

from dcp_mm.models.layers.position_embedding import sine_position_embedding


def test_matches_the_formula_elementwise():
    h, w, f = 3, 5, 6
    pos = sine_position_embedding(torch.zeros(2, 7, h, w), f)
    assert pos.shape == (2, 2 * f, h, w)
    assert torch.equal(pos[0], pos[1])
    scale, eps = 2 * math.pi, 1e-6
    for i in range(h):
        for j in range(w):
            y = (i + 1 - 0.5) / (h + eps) * scale
            x = (j + 1 - 0.5) / (w + eps) * scale
            for c in range(f):
                period = 10000**(2 * (c // 2) / f)
                trig = math.sin if c % 2 == 0 else math.cos
                assert pos[0, c, i, j].item() == pytest.approx(
                    trig(y / period), abs=1e-5)
                assert pos[0, f + c, i, j].item() == pytest.approx(
                    trig(x / period), abs=1e-5)


def test_errors():
    with pytest.raises(ValueError, match='even'):
        sine_position_embedding(torch.zeros(1, 2, 2, 2), 3)
    with pytest.raises(ValueError, match=r'\(B, C, h, w\)'):
        sine_position_embedding(torch.zeros(2, 2, 2), 4)
