"""CVGD stage blocks: shapes, receptive field of the dilated convs,
gradients, errors."""
import pytest
import torch

from dcp_mm.models.layers.cost_guided_decoder_block import (
    CostGuidedDecoderBlock, HybridDilatedBlock)


def test_hybrid_dilated_receptive_field():
    torch.manual_seed(0)
    block = HybridDilatedBlock(4).eval()
    x = torch.zeros(1, 4, 21, 21, requires_grad=True)
    block(x)[0, :, 10, 10].sum().backward()
    reach = x.grad[0].abs().sum(0).nonzero()
    # 3x3 convs with dilations 1, 2, 4 in sequence: radius 1 + 2 + 4 = 7
    assert int(reach[:, 0].min()) == 3 and int(reach[:, 0].max()) == 17
    with pytest.raises(ValueError, match='dilations'):
        HybridDilatedBlock(4, dilations=(1, 0))


@pytest.mark.parametrize('cost_ch', [0, 3])
def test_block_shape_and_gradients(cost_ch):
    torch.manual_seed(0)
    b, k, c = 2, 3, 8
    block = CostGuidedDecoderBlock(c, 6, 2, cost_ch, num_heads=2)
    x = torch.randn(b * k, c, 4, 4)
    g = torch.randn(b, 2, 8, 8)
    cg = torch.randn(b * k, cost_ch, 8, 8) if cost_ch else None
    out = block(x, g, cg, torch.tensor([[1, 1, 0], [1, 1, 1]]).bool())
    assert out.shape == (b * k, 6, 8, 8)
    out.sum().backward()
    for n, p in block.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n


def test_block_errors():
    with pytest.raises(ValueError, match='must be smaller'):
        CostGuidedDecoderBlock(4, 4, 4, 0)
    block = CostGuidedDecoderBlock(8, 4, 2, 3, num_heads=2)
    with pytest.raises(ValueError, match='cost-guidance'):
        block(torch.randn(2, 8, 2, 2), torch.randn(1, 2, 4, 4), None)
    with pytest.raises(ValueError, match='not a multiple'):
        block(
            torch.randn(3, 8, 2, 2), torch.randn(2, 2, 4, 4),
            torch.randn(3, 3, 4, 4))
