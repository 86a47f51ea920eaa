"""RepresentationCompensationLoss (MAFT+ RC): hand computation, the
official pooling rule for non-square maps, zero for identical features,
gradients only to the student, teacher outside the state dict."""
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from dcp_mm.models.backbones.clip_vit_backbone import CLIPImageFeatures
from dcp_mm.models.layers.pooled_summary import pooled_summary


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    init_default_scope('mmseg')


def pod_by_hand(x):
    """POD at scales 1/2/4 of a (B, C, 4, 4) map, with Python loops."""
    b, c = x.shape[:2]
    out = []
    for i in range(b):
        row = []
        for s in (1, 2, 4):
            k = 4 // s
            grid = [[[
                sum(x[i, ch, gy * k + u, gx * k + v].item() for u in range(k)
                    for v in range(k)) / (k * k) for gx in range(s)
            ] for gy in range(s)] for ch in range(c)]
            # sums over rows (one value per column), then over columns
            row += [
                sum(grid[ch][gy][gx] for gy in range(s)) for ch in range(c)
                for gx in range(s)
            ]
            row += [
                sum(grid[ch][gy][gx] for gx in range(s)) for ch in range(c)
                for gy in range(s)
            ]
        out.append(row)
    return out


def smooth_l1(a, b):
    vals = []
    for ra, rb in zip(a, b):
        for u, v in zip(ra, rb):
            d = abs(u - v)
            vals.append(0.5 * d * d if d < 1 else d - 0.5)
    return sum(vals) / len(vals)


def test_hand_computation_2x2x4x4():
    student = torch.randn(2, 2, 4, 4) * 2
    teacher = torch.randn(2, 2, 4, 4) * 2
    loss = MODELS.build(dict(type='RepresentationCompensationLoss'))
    got = loss.compensation(student, teacher)
    expected = smooth_l1(
        pod_by_hand(student.clamp(min=0)), pod_by_hand(teacher.clamp(min=0)))
    assert got.item() == pytest.approx(expected, rel=1e-5)
    assert pooled_summary(student).shape == (2, 2 * 2 * (1 + 2 + 4))
    # 'square' preprocessing
    sq = MODELS.build(
        dict(type='RepresentationCompensationLoss', preprocess='square'))
    expected = smooth_l1(pod_by_hand(student**2), pod_by_hand(teacher**2))
    assert sq.compensation(student, teacher).item() == pytest.approx(
        expected, rel=1e-5)


def test_official_kernel_rule_for_non_square_maps():
    c = 3
    # kernels from the width before the square resize
    assert pooled_summary(torch.randn(1, c, 6, 10)).shape[1] == 16 * c
    assert pooled_summary(torch.randn(1, c, 10, 6)).shape[1] == 28 * c
    # 25 x 38: kernels 38 / 19 / 9 on 38 x 38, grids 1 / 2 / 4
    assert pooled_summary(torch.randn(1, c, 25, 38)).shape[1] == 14 * c
    # the ideal rule reads the side of the resized square
    assert pooled_summary(
        torch.randn(1, c, 10, 6), width_before_resize=False).shape[1] == \
        16 * c
    with pytest.raises(ValueError, match='too small'):
        pooled_summary(torch.randn(1, c, 3, 3))
    with pytest.raises(ValueError, match='positive ints'):
        pooled_summary(torch.randn(1, c, 4, 4), scales=(0, ))


def _backbone():
    return MODELS.build(
        dict(
            type='CLIPViTBackbone',
            model_name='dcp-tiny',
            out_indices=(2, ),
            finetune='full'))


def test_teacher_zero_loss_gradients_and_state_dict():
    backbone = _backbone()
    loss = MODELS.build(dict(type='RepresentationCompensationLoss'))
    loss.bind_backbone(backbone)
    teacher = loss.teacher
    assert teacher is not backbone and not teacher.training
    assert all(not p.requires_grad for p in teacher.parameters())
    # absent from the registries of the loss module
    assert loss.state_dict() == {} and list(loss.parameters()) == []
    assert list(loss.children()) == []
    x = torch.randn(2, 3, 32, 32)
    backbone.train()
    feats = backbone(x)
    out = loss(x, feats)
    assert set(out) == {'loss_rc'}
    # identical weights: 0 up to float rounding (PyTorch picks different
    # attention kernels for frozen and trainable weights)
    assert 0 <= out['loss_rc'].item() < 1e-10
    f = feats.last_feats
    assert loss.compensation(f, f.clone()).item() == 0.0
    # after a change of the student, a positive loss that trains it only
    with torch.no_grad():
        backbone.visual.transformer.resblocks[-1].mlp.c_fc.weight.mul_(1.5)
    feats = backbone(x)
    out = loss(x, feats)['loss_rc']
    assert out.item() > 0
    out.backward()
    grads = [p.grad for p in backbone.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(torch.isfinite(g).all() for g in grads if g is not None)
    assert all(p.grad is None for p in teacher.parameters())
    # weight 0.1 (MAFT+)
    assert loss(x, feats)['loss_rc'].item() == pytest.approx(
        0.1 * loss.compensation(feats.last_feats,
                                teacher(x).last_feats).item(),
        rel=1e-6)


def test_teacher_follows_dtype_and_mode():
    backbone = _backbone()
    loss = MODELS.build(
        dict(type='RepresentationCompensationLoss', teacher_mode='train'))
    loss.bind_backbone(backbone)
    assert loss.teacher.training
    loss.double()
    assert next(loss.teacher.parameters()).dtype == torch.float64
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    loss.teacher.eval()
    out = loss(x, backbone.double()(x))
    assert loss.teacher.training  # restored to the official train mode
    assert out['loss_rc'].dtype == torch.float32


def test_errors():
    for bad in (dict(teacher_mode='frozen'), dict(preprocess='abs'),
                dict(loss_name='rc'), dict(loss_weight=-1.0),
                dict(scales=(1, 0))):
        with pytest.raises(ValueError):
            MODELS.build(dict(type='RepresentationCompensationLoss', **bad))
    loss = MODELS.build(dict(type='RepresentationCompensationLoss'))
    feats = CLIPImageFeatures(torch.zeros(1, 4), torch.zeros(1, 4, 2, 2))
    with pytest.raises(RuntimeError, match='bind_backbone'):
        loss(torch.zeros(1, 3, 32, 32), feats)
    loss.bind_backbone(_backbone())
    with pytest.raises(ValueError, match='no last_feats'):
        loss(torch.zeros(1, 3, 32, 32), feats)
    with pytest.raises(ValueError, match='differ'):
        loss.compensation(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 4, 4))
