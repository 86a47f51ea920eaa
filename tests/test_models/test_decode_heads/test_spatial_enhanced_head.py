import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from dcp_mm.structures import (CategorySelection, CLIPFeatureSpec,
                               CompositionError, CostFeatures, CostFeatureSpec)
from dcp_mm.testing import make_head_inputs

B, K, T, P, CV, H = 2, 3, 5, 2, 16, 4


def build(**kw):
    cfg = dict(
        type='DCPSpatialEnhancedHead',
        in_channels=8,
        channels=4,
        clip_channels=CV,
        num_templates=P,
        decoder_dims=(8, 4),
        shallow_dims=(4, 2),
        shallow_up_dims=(8, 4),
        cost_guidance_dims=(4, 2),
        se_shallow_dims=4,
        se_attn_dims=4,
        attn_pool_size=2,
        num_heads=2,
        window_size=2)
    cfg.update(kw)
    return MODELS.build(cfg)


def head_inputs(with_attn=True):
    attn = torch.softmax(torch.randn(B, H * H, H * H), -1) if with_attn \
        else None
    sel = CategorySelection(
        torch.stack([torch.randperm(T)[:K] for _ in range(B)]),
        torch.tensor([[True] * K, [True] * (K - 1) + [False]]),
        torch.randn(B, T))
    return make_head_inputs(
        cost=CostFeatures(
            torch.randn(B, K, 8, H, H, requires_grad=True),
            torch.rand(B, K, P, H, H) * 2 - 1),
        inter_feats=[torch.randn(B, CV, H, H) for _ in range(2)],
        attn=attn,
        selection=sel)


def check_grads(module):
    for name, p in module.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize('num_layers', [0, 1, 2])
def test_shapes_per_depth(num_layers):
    head = build(num_layers=num_layers)
    out = head(head_inputs())
    side = H * 2**num_layers
    assert out.shape == (B, K, side, side)
    out.sum().backward()
    check_grads(head)


@pytest.mark.parametrize('kw', [
    dict(spatial_enhance=False),
    dict(fuse_shallow_qk=False, fuse_cost=False, fuse_attn=False),
    dict(
        fuse_shallow_up=False,
        fuse_shallow_qk=False,
        fuse_cost=False,
        fuse_attn=False),
    dict(fuse_shallow_up=False),
    dict(fuse_cost=False, fuse_attn=False),
    dict(rel_pos_bias=False),
    dict(fuse_attn=False),
])
def test_ablation_switches(kw):
    head = build(**kw)
    out = head(head_inputs(with_attn=kw.get('fuse_attn', True)))
    assert out.shape == (B, K, 4 * H, 4 * H)
    out.sum().backward()
    check_grads(head)
    if not kw.get('spatial_enhance', True):
        assert len(head.se_blocks) == 0


def test_shallow_switches_are_separate():
    """Table VI(c) "none" keeps F_s in the U-Net path (Eq. 15) and takes it
    out of the Swin Q/K (Eq. 13); each switch builds only its own layers and
    each one changes the output through its own path."""
    none = build(fuse_shallow_qk=False, fuse_cost=False, fuse_attn=False)
    assert none.se_shallow is None and len(none.shallow_up) == 2
    assert none.se_blocks[0][0].guidance_dim == 0
    up_off = build(fuse_shallow_up=False)
    assert up_off.se_shallow is not None and len(up_off.shallow_up) == 0
    assert up_off.se_blocks[0][0].guidance_dim == 4 + 4
    full = build()
    assert full.se_blocks[0][0].guidance_dim == 4 + 4
    # the U-Net path of "none" reads the shallow features: changing
    # inter_feats[0] (the x2 feature) changes its output
    none.eval()
    inp = head_inputs(with_attn=False)
    out = none(inp)
    inp.inter_feats[0] = torch.randn_like(inp.inter_feats[0])
    assert not torch.allclose(out, none(inp))
    # without the U-Net path and the Q/K path, inter_feats are not read
    plain = build(
        fuse_shallow_up=False,
        fuse_shallow_qk=False,
        fuse_cost=False,
        fuse_attn=False).eval()
    inp = head_inputs(with_attn=False)
    out = plain(inp)
    inp.image.inter_feats = [torch.randn_like(f) for f in inp.inter_feats]
    torch.testing.assert_close(out, plain(inp))
    # only the heads that read the ViT grid features refuse a pyramid
    cost = CostFeatureSpec('neck N', 8, P)
    pyramid = CLIPFeatureSpec('backbone B', 32, 'pyramid', (4, 8), False)
    plain.check_inputs(pyramid, cost, 'neck N')
    with pytest.raises(CompositionError, match='fuse_shallow_qk=False'):
        none.check_inputs(pyramid, cost, 'neck N')
    with pytest.raises(ValueError, match='fuse_shallow_qk'):
        build(fuse_shallow=False)


def test_relative_position_bias_on_by_default():
    head = build()
    for blocks in head.se_blocks:
        for block in blocks:
            table = block.attn.relative_position_bias_table
            assert table is not None and table.shape == (3 * 3, 2)
    off = build(rel_pos_bias=False)
    assert all(b.attn.relative_position_bias_table is None
               for blocks in off.se_blocks for b in blocks)


def test_per_category_independence():
    """Each category's logits depend on its own cost feature only."""
    head = build().eval()
    inp = head_inputs()
    out = head(inp)
    inp.cost.cost_embed.data[:, 1] += 1.0
    out2 = head(inp)
    torch.testing.assert_close(out[:, [0, 2]], out2[:, [0, 2]])
    assert not torch.allclose(out[:, 1], out2[:, 1])


def test_loss_uses_selected_categories():
    head = build()
    inp = head_inputs()
    samples = []
    for _ in range(B):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, T, (1, 20, 20)))
        samples.append(s)
    losses = head.loss(inp, samples, None)
    assert set(losses) == {'loss_bce', 'bce_baseline'}
    assert losses['loss_bce'].ndim == 0 and losses['loss_bce'] > 0
    losses['loss_bce'].backward()
    check_grads(head)


def test_bad_arguments():
    with pytest.raises(ValueError, match='num_layers'):
        build(num_layers=3)
    with pytest.raises(ValueError, match='shallow_dims'):
        build(shallow_dims=(4, ))
    with pytest.raises(ValueError, match='with_attn'):
        build()(head_inputs(with_attn=False))
