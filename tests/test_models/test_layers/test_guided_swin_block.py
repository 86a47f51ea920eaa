import pytest
import torch
from mmseg.models.backbones.swin import ShiftWindowMSA

from dcp_mm.models.layers import GuidedSwinBlock, GuidedWindowAttention


@pytest.mark.parametrize('shift,hw', [(0, (8, 8)), (2, (8, 8)), (2, (7, 6))])
def test_matches_mmseg_swin_without_guidance(shift, hw):
    """G = 0: our window attention is mmseg's (S)W-MSA without the
    relative position bias (zeroed), shift mask and padding included."""
    c, window = 8, 4
    ours = GuidedWindowAttention(c, 0, 2, window, shift)
    ref = ShiftWindowMSA(c, 2, window, shift_size=shift)
    with torch.no_grad():
        ref.w_msa.relative_position_bias_table.zero_()
        ref.w_msa.qkv.weight.copy_(
            torch.cat([ours.q.weight, ours.k.weight, ours.v.weight]))
        ref.w_msa.qkv.bias.copy_(
            torch.cat([ours.q.bias, ours.k.bias, ours.v.bias]))
        ref.w_msa.proj.load_state_dict(ours.proj.state_dict())
    x = torch.randn(2, *hw, c)
    expected = ref(x.flatten(1, 2), hw).reshape(2, *hw, c)
    torch.testing.assert_close(ours(x, None), expected, atol=1e-5, rtol=1e-5)


def test_guidance_enters_query_key_only():
    attn = GuidedWindowAttention(4, 3, 1, window_size=4)
    x, g = torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 3)
    with torch.no_grad():  # uniform attention: output = mean of V
        attn.q.weight.zero_()
        attn.q.bias.zero_()
    out1, out2 = attn(x, g), attn(x, torch.randn_like(g))
    torch.testing.assert_close(out1, out2)
    v_mean = attn.v(x.reshape(1, 16, 4)).mean(1, keepdim=True)
    torch.testing.assert_close(
        out1.reshape(1, 16, 4),
        attn.proj(v_mean).expand(1, 16, 4))
    attn2 = GuidedWindowAttention(4, 3, 1, window_size=4)
    assert not torch.allclose(attn2(x, g), attn2(x, torch.randn_like(g)))


def test_block_shapes_gradients_and_errors():
    block = GuidedSwinBlock(8, 4, 2, window_size=4, shift_size=2)
    x = torch.randn(2, 8, 6, 10, requires_grad=True)
    g = torch.randn(2, 4, 6, 10)
    out = block(x, g)
    assert out.shape == x.shape
    out.sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    with pytest.raises(ValueError, match='guidance'):
        block(x, None)
    with pytest.raises(ValueError, match='divisible'):
        GuidedSwinBlock(6, 0, 4, 4)
    with pytest.raises(ValueError, match='shift_size'):
        GuidedWindowAttention(8, 0, 2, window_size=4, shift_size=4)
