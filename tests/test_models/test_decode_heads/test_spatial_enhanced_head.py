import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from dcp_mm.models.layers import CategorySelection, CostFeatures

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
    return dict(
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
    dict(fuse_shallow=False, fuse_cost=False, fuse_attn=False),
    dict(fuse_cost=False, fuse_attn=False),
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


def test_per_category_independence():
    """Each category's logits depend on its own cost feature only."""
    head = build().eval()
    inp = head_inputs()
    out = head(inp)
    inp['cost'].cost_embed.data[:, 1] += 1.0
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
