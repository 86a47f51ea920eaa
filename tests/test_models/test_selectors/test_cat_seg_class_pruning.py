import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS


def build(**kw):
    return MODELS.build(dict(type='CATSegClassPruning', **kw))


def test_keeps_all_when_t_is_small():
    sel = build(max_categories=5)
    cls, dense = torch.randn(2, 8), torch.randn(2, 8, 4, 4)
    text = F.normalize(torch.randn(5, 8), dim=-1)
    out = sel(cls, dense, text)
    assert out.indices.tolist() == [list(range(5))] * 2
    assert out.valid.all()
    ref = 100.0 * F.normalize(cls, dim=-1) @ text.t()
    torch.testing.assert_close(out.cls_logits, ref)


def test_top_k_by_max_over_templates_and_pixels():
    sel = build(max_categories=3)
    b, t, p, d, h, w = 2, 7, 2, 8, 3, 3
    dense = torch.randn(b, d, h, w)
    text = F.normalize(torch.randn(t, p, d), dim=-1)
    out = sel(torch.randn(b, d), dense, text)
    assert out.indices.shape == (b, 3) and out.valid.all()
    for i in range(b):
        # hand computation: cosine of every pixel with every template
        img = F.normalize(dense[i].flatten(1).t(), dim=-1)  # (N, D)
        score = torch.stack([(img @ text[c].t()).max() for c in range(t)])
        expect = sorted(score.topk(3).indices.tolist())
        assert out.indices[i].tolist() == expect
    # (T, D) text: the same with one template
    flat = F.normalize(torch.randn(t, d), dim=-1)
    torch.testing.assert_close(
        sel.scores(dense, flat), sel.scores(dense, flat[:, None]))


def test_no_parameters_no_gradient():
    sel = build()
    assert not list(sel.parameters())
    cls = torch.randn(1, 8, requires_grad=True)
    out = sel(cls, torch.randn(1, 8, 2, 2), torch.randn(3, 8))
    assert not out.cls_logits.requires_grad


def test_bad_arguments():
    with pytest.raises(ValueError, match='max_categories'):
        build(max_categories=0)
    sel = build()
    with pytest.raises(ValueError, match='differs'):
        sel(torch.randn(1, 8), torch.randn(1, 8, 2, 2), torch.randn(3, 4))
    with pytest.raises(ValueError, match=r'\(T, D\)'):
        sel(torch.randn(1, 8), torch.randn(1, 8, 2, 2), torch.randn(8))
