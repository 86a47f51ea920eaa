"""SED decoder stage vs the official op order (SED
sed/modeling/transformer/model.py)."""
import pytest
import torch
import torch.nn.functional as F

from dcp_mm.models.layers import GradualFusionBlock


def slow_block(blk, x, g, cg, k):
    """ConvNeXt V1 block, class attention, ConvT, concat, double conv."""
    cn = blk.cnext
    c = x.shape[1]
    y = F.conv2d(x, cn.conv_dw.weight, cn.conv_dw.bias, padding=4, groups=c)
    y = y.permute(0, 2, 3, 1)
    y = F.layer_norm(y, (c, ), cn.norm.weight, cn.norm.bias, eps=1e-6)
    y = F.linear(
        F.gelu(F.linear(y, cn.mlp.fc1.weight, cn.mlp.fc1.bias)),
        cn.mlp.fc2.weight, cn.mlp.fc2.bias)
    y = (cn.gamma * y).permute(0, 3, 1, 2)
    x = x + y
    b = g.shape[0]
    x = blk.attention(x.reshape(b, k, *x.shape[1:])).flatten(0, 1)
    up = blk.fuse.up
    x = F.conv_transpose2d(x, up.weight, up.bias, stride=2)
    x = torch.cat([x, g.repeat_interleave(k, 0), cg], dim=1)
    for m in blk.fuse.convs:
        x = F.conv2d(x, m.conv.weight, None, padding=1)
        x = F.relu(
            F.group_norm(x, m.gn.num_groups, m.gn.weight, m.gn.bias, 1e-5))
    return x


def test_channels_follow_official_layout():
    # official decoder1: ConvT 128 -> 96, double conv 160 -> 64, GN(4)
    blk = GradualFusionBlock(128, 64, 32, 32)
    assert blk.fuse.up.in_channels == 128 and blk.fuse.up.out_channels == 96
    assert blk.fuse.convs[0].conv.in_channels == 160
    assert blk.fuse.convs[0].gn.num_groups == 4
    assert blk.cnext.conv_dw.kernel_size == (9, 9)
    assert torch.all(blk.cnext.gamma == 1.0)  # SED's Up: layer scale 1.0
    assert blk.cnext.norm.eps == 1e-6
    assert blk.attention.pad_len == 0 and blk.attention.guidance_dim == 0


def test_matches_direct_implementation_and_backward():
    blk = GradualFusionBlock(16, 8, 4, 2, num_heads=2, pooling_size=(2, 2))
    with torch.no_grad():
        for p in blk.parameters():
            p.add_(0.1 * torch.randn_like(p))
    b, k = 2, 3
    x = torch.randn(b * k, 16, 4, 4)
    g = torch.randn(b, 4, 8, 8)
    cg = torch.randn(b * k, 2, 8, 8)
    out = blk(x, g, cg)
    assert out.shape == (b * k, 8, 8, 8)
    torch.testing.assert_close(
        out, slow_block(blk, x, g, cg, k), atol=1e-5, rtol=1e-5)
    out.square().mean().backward()
    for name, p in blk.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_bad_arguments():
    with pytest.raises(ValueError, match='smaller than in_channels'):
        GradualFusionBlock(16, 8, 16, 2)
    blk = GradualFusionBlock(16, 8, 4, 2, num_heads=2)
    with pytest.raises(ValueError, match='multiple'):
        blk(
            torch.randn(5, 16, 4, 4), torch.randn(2, 4, 8, 8),
            torch.randn(5, 2, 8, 8))
    with pytest.raises(ValueError, match='guidance channels'):
        blk(
            torch.randn(4, 16, 4, 4), torch.randn(2, 4, 8, 8),
            torch.randn(4, 3, 8, 8))


def test_convnext_output_is_contiguous_nchw_like_official():
    """SED's block computes ``input + x.permute(0, 3, 1, 2)``: contiguous
    NCHW. timm's block returns channels-last strides; the layout changes
    the rounding of the class attention's bilinear upsampling, so the
    stage copies it to contiguous NCHW and matches the official op order
    bit for bit."""
    torch.manual_seed(0)
    blk = GradualFusionBlock(16, 8, 4, 2, num_heads=2, pooling_size=(2, 2))
    with torch.no_grad():
        for p in blk.parameters():
            p.add_(0.1 * torch.randn_like(p))
    b, k = 2, 3
    x = torch.randn(b * k, 16, 6, 6)
    assert not blk.cnext(x).is_contiguous()  # timm: channels-last strides
    seen = []
    handle = blk.attention.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].is_contiguous()))
    g, cg = torch.randn(b, 4, 12, 12), torch.randn(b * k, 2, 12, 12)
    out = blk(x, g, cg)
    handle.remove()
    assert seen == [True]
    assert torch.equal(out, slow_block(blk, x, g, cg, k))
