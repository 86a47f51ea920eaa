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
        expect = score.topk(3, sorted=False).indices.tolist()
        assert out.indices[i].tolist() == expect  # official order
    # (T, D) text: the same with one template
    flat = F.normalize(torch.randn(t, d), dim=-1)
    torch.testing.assert_close(
        sel.scores(dense, flat), sel.scores(dense, flat[:, None]))


def test_scores_bit_exact_with_official_normalisations():
    """Official (P = 1): text = x / ||x|| (encoder), then F.normalize in
    ``correlation``: two normalisations. dcp_mm: F.normalize (encoder), the
    segmentor's renormalised template mean (the second); the selector must
    not add a third. Scores equal the official ones bit for bit, and text
    that is not unit-norm is not renormalised (scores scale with it)."""
    torch.manual_seed(0)
    b, t, d = 2, 300, 32
    raw = torch.randn(t, 1, d)
    dense = torch.randn(b, d, 5, 5)
    # official
    off_text = raw / raw.norm(dim=-1, keepdim=True)
    corr = torch.einsum(
        'bchw, btpc -> bpthw', F.normalize(dense, dim=1),
        F.normalize(off_text, dim=-1)[None].expand(b, -1, -1, -1))
    off_score = corr.permute(0, 2, 1, 3, 4).flatten(-3).max(dim=-1)[0]
    off_top = off_score.topk(256, dim=-1, sorted=False)[1]
    # dcp_mm: encoder output, then the segmentor's text_avg
    enc = F.normalize(raw, dim=-1)
    text_avg = F.normalize(enc.mean(dim=1), dim=-1)
    sel = build(max_categories=256)
    assert torch.equal(sel.scores(dense, text_avg), off_score)
    out = sel(torch.randn(b, d), dense, text_avg)
    assert torch.equal(out.indices, off_top) and out.valid.all()
    torch.testing.assert_close(
        sel.scores(dense, 2 * text_avg), 2 * sel.scores(dense, text_avg))


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
