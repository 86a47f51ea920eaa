"""CAT-Seg decoder vs the official op order (CAT-Seg
cat_seg/modeling/transformer/cat_seg_predictor.py)."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from dcp_mm.models.decode_heads import (CATSegUpsampleHead,
                                        DCPSpatialEnhancedHead)
from dcp_mm.structures import CategorySelection, CostFeatures
from dcp_mm.testing import make_head_inputs


def build(**kw):
    cfg = dict(
        type='CATSegUpsampleHead',
        in_channels=16,
        channels=4,
        clip_channels=12,
        num_templates=1,
        decoder_dims=(8, 4),
        shallow_dims=(4, 2),
        shallow_up_dims=(8, 6))
    cfg.update(kw)
    return MODELS.build(cfg)


def inputs(b=2, k=3, h=4, w=4):
    cost = CostFeatures(
        torch.randn(b, k, 16, h, w),
        torch.rand(b, k, 1, h, w) * 2 - 1)
    sel = CategorySelection(
        torch.arange(k).expand(b, k), torch.ones(b, k, dtype=torch.bool))
    return make_head_inputs(
        cost=cost,
        inter_feats=[torch.randn(b, 12, h, w),
                     torch.randn(b, 12, h, w)],
        attn=None,
        selection=sel)


def slow_head(head, inp):
    """upsample1/2, decoder_guidance_projection, Up x 2, head."""
    x = inp.cost.cost_embed.flatten(0, 1)
    k = inp.cost.cost_embed.shape[1]
    for i, stride in enumerate((2, 4)):
        up = head.shallow_up[i]
        g = F.conv_transpose2d(
            inp.inter_feats[i], up.weight, up.bias, stride=stride)
        proj = head.shallow_proj[i][0]
        g = F.relu(F.conv2d(g, proj.weight, proj.bias, padding=1))
        blk = head.up_blocks[i]
        x = F.conv_transpose2d(x, blk.up.weight, blk.up.bias, stride=2)
        x = torch.cat([x, g.repeat_interleave(k, 0)], dim=1)
        for m in blk.convs:
            x = F.conv2d(x, m.conv.weight, None, padding=1)
            x = F.relu(
                F.group_norm(x, m.gn.num_groups, m.gn.weight, m.gn.bias))
    out = F.conv2d(x, head.conv_seg.weight, head.conv_seg.bias, padding=1)
    return out.reshape(-1, k, *out.shape[-2:])


def test_is_the_dcp_decoder_without_additions():
    """Same parameters and the same function as DCP-CLIP's decoder with
    spatial enhance, cost and attention fusion switched off."""
    head = build()
    dcp = DCPSpatialEnhancedHead(
        in_channels=16,
        channels=4,
        clip_channels=12,
        num_templates=1,
        decoder_dims=(8, 4),
        shallow_dims=(4, 2),
        shallow_up_dims=(8, 6),
        cost_guidance_dims=(4, 2),
        spatial_enhance=False,
        fuse_cost=False,
        fuse_attn=False,
        fuse_shallow_qk=False)
    dcp.load_state_dict(head.state_dict(), strict=True)
    inp = inputs()
    torch.testing.assert_close(dcp(inp), head(inp), atol=0, rtol=0)
    # official widths: ConvT 768->256 k2 and 768->128 k4; Up(128, 64, 32)
    full = CATSegUpsampleHead(clip_channels=768, num_templates=1)
    assert full.shallow_up[0].kernel_size == (2, 2)
    assert full.shallow_up[1].kernel_size == (4, 4)
    assert full.shallow_up[1].out_channels == 128
    assert full.up_blocks[0].up.out_channels == 96
    assert full.up_blocks[0].convs[0].conv.in_channels == 128
    assert full.up_blocks[1].convs[0].gn.num_groups == 2
    assert full.conv_seg.kernel_size == (3, 3)


def test_forward_matches_official_op_order():
    head = build()
    inp = inputs()
    out = head(inp)
    assert out.shape == (2, 3, 16, 16)
    torch.testing.assert_close(out, slow_head(head, inp), atol=1e-5, rtol=1e-5)


def test_loss_and_backward():
    head = build()
    inp = inputs()
    samples = []
    for _ in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 32, 32)))
        samples.append(s)
    losses = head.loss(inp, samples, {})
    assert set(losses) == {'loss_bce', 'bce_baseline'}
    losses['loss_bce'].backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize('flag', ['spatial_enhance', 'fuse_cost', 'fuse_attn'])
def test_dcp_switches_are_refused(flag):
    with pytest.raises(TypeError, match=flag):
        build(**{flag: True})
    with pytest.raises(ValueError, match='num_layers must be in'):
        build(num_layers=3)
    with pytest.raises(ValueError, match='shallow_dims needs 2 entries'):
        build(shallow_dims=(4, ))
