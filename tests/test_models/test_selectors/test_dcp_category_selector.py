import math

import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS


def slow_dcs(cls_embed, dense, text, tau, scale, suppression, combine):
    """Eq. 1-5 for one image with Python loops (reference)."""
    text = [F.normalize(t, dim=0) for t in text]
    cls = F.normalize(cls_embed, dim=0)

    def softmax(v):
        m = max(v)
        e = [math.exp(x - m) for x in v]
        return [x / sum(e) for x in e]

    s_c = softmax([scale * float(cls @ t) for t in text])
    c_p = set()
    for i in range(dense.shape[1] * dense.shape[2]):
        p = F.normalize(dense.flatten(1)[:, i], dim=0)
        s_p = softmax([scale * float(p @ t) for t in text])
        if suppression == 'multiply':
            s_p = [a * (1 - b) for a, b in zip(s_p, s_c)]
        else:
            s_p = [a - b for a, b in zip(s_p, s_c)]
        c_p.add(max(range(len(s_p)), key=lambda t: s_p[t]))
    c_c = {t for t, s in enumerate(s_c) if s > tau}
    sel = c_p | c_c if combine == 'union' else (c_p & c_c) or c_p
    return sorted(sel)


def build(**kw):
    return MODELS.build(dict(type='DCPCategorySelector', **kw))


def test_hand_made_scores():
    # text = one-hot axes; [CLS] points at category 0 (dominant)
    text = torch.eye(4)
    cls = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    # patches: category 0, category 3, and a mix of 0 and 2
    dense = torch.tensor([[1.0, 0, 0], [0, 0, 0], [0, 0, .6], [0, 1.0, 0]])
    dense = dense.reshape(1, 4, 1, 3)
    sel = build(tau=0.5, logit_scale=10.0)(cls, dense, text)
    # S_c = softmax(10 * [1, 0, 0, 0]) -> only category 0 passes tau;
    # patch 2 = (1, 0, .6, 0)/|.| : S_p favours 0, but (1 - S_c[0]) ~ 1.4e-4
    # suppresses it, so its refined argmax is 2 (hand computation).
    s_c = torch.tensor([math.exp(10), 1, 1, 1]) / (math.exp(10) + 3)
    p = torch.tensor([1.0, 0, .6, 0]) / math.sqrt(1.36)
    s_p = torch.softmax(10 * p, 0)
    refined = s_p * (1 - s_c)
    assert s_p.argmax() == 0 and refined.argmax() == 2
    assert sel.indices.tolist() == [[0, 2, 3]]
    assert sel.valid.all()
    # intersection keeps only what both sets hold
    sel = build(
        tau=0.5, logit_scale=10.0, combine='intersection')(cls, dense, text)
    assert sel.indices.tolist() == [[0]]


@pytest.mark.parametrize('suppression', ['multiply', 'subtract'])
@pytest.mark.parametrize('combine', ['union', 'intersection'])
@pytest.mark.parametrize('tau', [0.0, 0.2, 0.5])
def test_matches_slow_reference(suppression, combine, tau):
    b, d, t = 2, 8, 5
    cls = torch.randn(b, d)
    dense = torch.randn(b, d, 3, 4)
    text = F.normalize(torch.randn(t, d), dim=-1)
    sel = build(
        tau=tau, logit_scale=5.0, suppression=suppression,
        combine=combine)(cls, dense, text)
    for i in range(b):
        ref = slow_dcs(cls[i], dense[i], text, tau, 5.0, suppression, combine)
        assert sel.indices[i][sel.valid[i]].tolist() == ref
    if tau == 0.0 and combine == 'union':
        assert sel.valid.all() and sel.indices.shape == (b, t)


def test_batched_equals_per_image_and_padding():
    sel_mod = build(tau=0.3, logit_scale=20.0)
    cls = torch.randn(3, 16)
    dense = torch.randn(3, 16, 4, 4)
    text = F.normalize(torch.randn(12, 16), dim=-1)
    batch = sel_mod(cls, dense, text)
    ks = batch.num_selected.tolist()
    for i in range(3):
        one = sel_mod(cls[i:i + 1], dense[i:i + 1], text)
        assert one.indices[0].tolist() == batch.indices[i][
            batch.valid[i]].tolist()
        # padding repeats a valid index and is marked invalid
        assert batch.valid[i].sum() == ks[i]
        assert set(batch.indices[i].tolist()) == set(one.indices[0].tolist())
    torch.testing.assert_close(batch.cls_logits,
                               20.0 * F.normalize(cls, dim=-1) @ text.t())


def test_gt_added_only_in_training_and_fixed_k():
    mod = build(tau=0.99, logit_scale=1.0)
    cls, dense = torch.randn(1, 8), torch.randn(1, 8, 2, 2)
    text = F.normalize(torch.randn(6, 8), dim=-1)
    gt = [torch.tensor([5])]
    mod.eval()
    base = set(mod(cls, dense, text, gt).indices[0].tolist())
    mod.train()
    with_gt = set(mod(cls, dense, text, gt).indices[0].tolist())
    assert with_gt == base | {5}
    fixed = build(fixed_k=3).eval()(cls, dense, text)
    assert fixed.indices.shape == (1, 3)
    s_c = (100 * F.normalize(cls, dim=-1) @ text.t())
    assert set(fixed.indices[0].tolist()) == set(
        s_c[0].topk(3).indices.tolist())


def test_no_parameters_and_bad_arguments():
    assert len(list(build().parameters())) == 0
    with pytest.raises(ValueError, match='tau'):
        build(tau=1.0)
    with pytest.raises(ValueError, match='suppression'):
        build(suppression='divide')
    with pytest.raises(ValueError, match='combine'):
        build(combine='xor')
    with pytest.raises(ValueError, match='fixed_k'):
        build(fixed_k=0)
    with pytest.raises(ValueError, match='differs'):
        build()(torch.randn(1, 8), torch.randn(1, 8, 2, 2), torch.randn(3, 4))
