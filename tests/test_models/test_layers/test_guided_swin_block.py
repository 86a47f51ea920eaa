import pytest
import torch
from mmseg.models.backbones.swin import ShiftWindowMSA

from dcp_mm.models.layers import GuidedSwinBlock, GuidedWindowAttention
from dcp_mm.models.layers.guided_swin_block import relative_position_index


@pytest.mark.parametrize('shift,hw', [(0, (8, 8)), (2, (8, 8)), (2, (7, 6))])
def test_matches_mmseg_swin_without_guidance(shift, hw):
    """G = 0: our window attention is mmseg's (S)W-MSA without the
    relative position bias (zeroed), shift mask and padding included."""
    c, window = 8, 4
    ours = GuidedWindowAttention(c, 0, 2, window, shift, rel_pos_bias=False)
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


@pytest.mark.parametrize('shift,hw', [(0, (8, 8)), (2, (8, 8)), (2, (7, 6))])
def test_relative_position_bias_matches_mmseg_swin(shift, hw):
    """Default rel_pos_bias=True: mmseg's (S)W-MSA with its (random)
    relative-position bias table, same indices (Swin Eq. 4)."""
    c, window = 8, 4
    ours = GuidedWindowAttention(c, 0, 2, window, shift)
    ref = ShiftWindowMSA(c, 2, window, shift_size=shift)
    assert ours.relative_position_bias_table.shape == (49, 2)
    with torch.no_grad():
        ours.relative_position_bias_table.normal_()
        ref.w_msa.relative_position_bias_table.copy_(
            ours.relative_position_bias_table)
        ref.w_msa.qkv.weight.copy_(
            torch.cat([ours.q.weight, ours.k.weight, ours.v.weight]))
        ref.w_msa.qkv.bias.copy_(
            torch.cat([ours.q.bias, ours.k.bias, ours.v.bias]))
        ref.w_msa.proj.load_state_dict(ours.proj.state_dict())
    x = torch.randn(2, *hw, c)
    expected = ref(x.flatten(1, 2), hw).reshape(2, *hw, c)
    torch.testing.assert_close(ours(x, None), expected, atol=1e-5, rtol=1e-5)
    # the bias changes the output; off, the table does not exist
    off = GuidedWindowAttention(c, 0, 2, window, shift, rel_pos_bias=False)
    off.load_state_dict(ours.state_dict(), strict=False)
    assert off.relative_position_bias_table is None
    assert not torch.allclose(off(x, None), expected, atol=1e-3)


def test_relative_position_index_of_a_smaller_window():
    """A 2x2 window (grid smaller than the 3x3 table window) uses the
    table's central offsets: index = (dy + 2) * 5 + (dx + 2)."""
    idx = relative_position_index(2, 3, torch.device('cpu'))
    coords = [(0, 0), (0, 1), (1, 0), (1, 1)]
    expect = [[(a[0] - b[0] + 2) * 5 + (a[1] - b[1] + 2) for b in coords]
              for a in coords]
    assert idx.tolist() == expect
    with pytest.raises(ValueError, match='larger'):
        relative_position_index(4, 3, torch.device('cpu'))


def test_guidance_enters_query_key_only():
    attn = GuidedWindowAttention(4, 3, 1, window_size=4, rel_pos_bias=False)
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
