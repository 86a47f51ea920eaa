"""VisualPrompts container, template alignment and the pooled visual cost."""
import pytest
import torch
import torch.nn.functional as F

from dcp_mm.models.layers.visual_prompts import (align_prompts_to_templates,
                                                 pooled_cosine)
from dcp_mm.structures import VisualPrompts


def _prompts(t=4, m=3, d=5, c=(2, 6)):
    g = torch.Generator().manual_seed(1)
    valid = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0], [0, 1, 1]],
                         dtype=torch.bool)[:t, :m]
    embeds = F.normalize(torch.randn(t, m, d, generator=g), dim=-1)
    stages = [torch.randn(t, m, ci, generator=g) for ci in c]
    return VisualPrompts(embeds * valid[..., None],
                         [s * valid[..., None] for s in stages], valid)


def test_select_per_vocabulary_and_per_image():
    vp = _prompts()
    idx = torch.tensor([[2, 0], [1, 3]])
    sel = vp.select(idx)
    assert sel.embeds.shape == (2, 2, 3, 5)
    assert sel.stage_embeds[1].shape == (2, 2, 3, 6)
    assert torch.equal(sel.embeds[1, 0], vp.embeds[1])
    assert sel.has_prompt.tolist() == [[False, True], [True, True]]
    per = vp.per_image(2)
    assert per.valid.shape == (2, 4, 3)
    sel2 = per.select(idx)
    assert torch.equal(sel2.embeds, sel.embeds)
    assert torch.equal(sel2.stage_embeds[0], sel.stage_embeds[0])
    with pytest.raises(ValueError, match='per-image prompts for 2'):
        per.select(idx[:1])
    with pytest.raises(ValueError, match='per_image expects'):
        per.per_image(2)


def test_align_pairs_templates_when_m_equals_p():
    vp = _prompts()
    out = align_prompts_to_templates(vp.embeds, vp.valid, 3)
    assert out.shape == (4, 3, 5)
    assert torch.equal(out[0], vp.embeds[0])  # all valid: one-to-one
    # category 1: only slot 0 valid -> every template gets it
    torch.testing.assert_close(out[1], vp.embeds[1, :1].expand(3, -1))
    assert torch.equal(out[2], torch.zeros(3, 5))  # no prompt: zeros
    # category 3: slot 0 invalid -> mean of slots 1 and 2
    torch.testing.assert_close(out[3, 0], vp.embeds[3, 1:].mean(0))
    assert torch.equal(out[3, 1:], vp.embeds[3, 1:])


def test_align_uses_the_mean_when_m_differs_from_p():
    vp = _prompts()
    out = align_prompts_to_templates(vp.stage_embeds[1], vp.valid, 2)
    assert out.shape == (4, 2, 6)
    torch.testing.assert_close(out[0, 0], vp.stage_embeds[1][0].mean(0))
    torch.testing.assert_close(out[3, 1], vp.stage_embeds[1][3, 1:].mean(0))
    with pytest.raises(ValueError, match='disagree'):
        align_prompts_to_templates(vp.embeds, vp.valid[:, :2], 2)


def test_pooled_cosine_by_hand_and_zero_for_missing_prompts():
    feats = torch.zeros(1, 2, 1, 2)
    feats[0, :, 0, 0] = torch.tensor([1.0, 0.0])
    feats[0, :, 0, 1] = torch.tensor([1.0, 1.0])
    prompts = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2)
    cost = pooled_cosine(feats, prompts)
    assert cost.shape == (1, 2, 1, 1, 2)
    assert cost[0, 0, 0, 0].tolist() == pytest.approx([1.0, 2**-0.5])
    assert cost[0, 1, 0, 0].tolist() == pytest.approx([0.0, 2**-0.5])
    cost = pooled_cosine(feats, prompts, torch.tensor([[[True], [False]]]))
    assert torch.equal(cost[0, 1], torch.zeros(1, 1, 2))
    with pytest.raises(ValueError, match='must be \\(B, K, M\\)'):
        pooled_cosine(feats, prompts, torch.tensor([[True, False]]))
    with pytest.raises(ValueError, match='stage widths differ'):
        pooled_cosine(feats, prompts[..., :1])
    with pytest.raises(ValueError, match='expected feats'):
        pooled_cosine(feats[0], prompts)
