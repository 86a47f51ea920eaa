import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from dcp_mm.structures import CategorySelection, pad_selections

D, P = 16, 2


def build(**kw):
    cfg = dict(
        type='DCPTextGuidedAlignNeck',
        embed_dims=D,
        num_templates=P,
        cost_dims=8,
        guidance_dims=8,
        prompt_dims=4,
        sa_patch_dims=4,
        num_heads=2)
    cfg.update(kw)
    return MODELS.build(cfg)


def inputs(b=2, k=3, t=5, h=4, w=4):
    dense = torch.randn(b, D, h, w)
    text_all = F.normalize(torch.randn(t, P, D), dim=-1)
    sel = CategorySelection(
        torch.stack([torch.randperm(t)[:k] for _ in range(b)]),
        torch.ones(b, k, dtype=torch.bool),
        torch.randn(b, t) * 10)
    return dense, text_all, sel


def test_shapes_and_gradients():
    neck = build()
    dense, text_all, sel = inputs()
    dense.requires_grad_(True)
    out = neck(dense, text_all[sel.indices], sel)
    assert out.cost_embed.shape == (2, 3, 8, 4, 4)
    assert out.cost_volume.shape == (2, 3, P, 4, 4)
    assert out.cost_volume.abs().max() <= 1 + 1e-5
    out.cost_embed.square().mean().backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert torch.isfinite(dense.grad).all()


def test_both_branches_off_is_conv_of_cost_volume():
    neck = build(with_ca=False, with_sa=False)
    dense, text_all, sel = inputs()
    out = neck(dense, text_all[sel.indices], sel)
    b, k = 1, 2
    c0 = torch.einsum('dhw,pd->phw', F.normalize(dense[b], dim=0),
                      text_all[sel.indices[b, k]])
    torch.testing.assert_close(out.cost_volume[b, k], c0)
    torch.testing.assert_close(out.cost_embed[b, k],
                               neck.cost_embed(c0[None])[0])
    assert not hasattr(neck, 'cross_attn') and not hasattr(neck, 'sa_qkv')


def test_padded_categories_do_not_change_valid_ones():
    """Batched with different K per image == per image (CA masks padding)."""
    neck = build().eval()
    dense, text_all, _ = inputs(b=2)
    cls_logits = torch.randn(2, 5)
    sets = [torch.tensor([0, 3]), torch.tensor([1, 2, 4])]
    batch = pad_selections(sets, cls_logits)
    out = neck(dense, text_all[batch.indices], batch)
    for i, s in enumerate(sets):
        one = pad_selections([s], cls_logits[i:i + 1])
        ref = neck(dense[i:i + 1], text_all[one.indices], one)
        k = len(s)
        torch.testing.assert_close(
            out.cost_embed[i, :k], ref.cost_embed[0], atol=1e-5, rtol=1e-4)


def test_category_permutation_equivariance():
    neck = build().eval()
    dense, text_all, sel = inputs(b=1, k=3)
    perm = torch.tensor([2, 0, 1])
    sel_p = CategorySelection(sel.indices[:, perm], sel.valid, sel.cls_logits)
    a = neck(dense, text_all[sel.indices], sel).cost_embed
    b = neck(dense, text_all[sel_p.indices], sel_p).cost_embed
    torch.testing.assert_close(a[:, perm], b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('kw', [
    dict(use_cls_score=False),
    dict(use_cls_score=False, use_prompt=False),
    dict(with_ca=False),
    dict(with_sa=False),
])
def test_ablation_switches_run(kw):
    neck = build(**kw)
    dense, text_all, sel = inputs()
    out = neck(dense, text_all[sel.indices], sel)
    assert out.cost_embed.shape == (2, 3, 8, 4, 4)
    out.cost_embed.sum().backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None, name
    if not kw.get('use_prompt', True):
        assert neck.prompt is None


def test_bad_arguments():
    with pytest.raises(ValueError, match='num_heads'):
        build(cost_dims=7)
    with pytest.raises(ValueError, match='num_templates'):
        build(num_templates=0)
    neck = build()
    dense, text_all, sel = inputs()
    with pytest.raises(ValueError, match='templates'):
        neck(dense, text_all[sel.indices][:, :, :1], sel)
    with pytest.raises(ValueError, match='cls_logits'):
        neck(dense, text_all[sel.indices],
             CategorySelection(sel.indices, sel.valid, None))


def test_synonym_max_cost():
    neck = build(num_templates=1, synonym_max=True)
    dense, _, sel = inputs()
    text_all = F.normalize(torch.randn(5, 3, D), dim=-1)  # (T, S, D)
    out = neck(dense, text_all[sel.indices], sel)
    assert out.cost_volume.shape == (2, 3, 1, 4, 4)
    img = F.normalize(dense, dim=1)
    cos = torch.einsum('bdhw,bksd->bkshw', img, text_all[sel.indices])
    torch.testing.assert_close(out.cost_volume[:, :, 0], cos.amax(dim=2))
    assert out.cost_embed.shape == (2, 3, 8, 4, 4)
    with pytest.raises(ValueError, match='num_templates must be 1'):
        build(num_templates=2, synonym_max=True)
