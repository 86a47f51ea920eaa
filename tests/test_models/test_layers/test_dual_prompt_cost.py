"""dual_prompt_cost_volume: hand computations on tiny tensors, text-only
identity with the text cost, fallback for categories without prompts."""
import pytest
import torch
import torch.nn.functional as F

from dcp_mm.models.layers.cost_volume import cosine_cost_volume
from dcp_mm.models.layers.dual_prompt_cost import (PROMPT_FUSIONS,
                                                   cost_channels,
                                                   dual_prompt_cost_volume)


def _inputs(b=2, k=3, p=2, d=4, h=2, w=3):
    g = torch.Generator().manual_seed(0)
    dense = torch.randn(b, d, h, w, generator=g)
    text = torch.randn(b, k, p, d, generator=g)
    visual = torch.randn(b, k, p, d, generator=g) * 5  # another norm
    return dense, text, visual


def test_avg_embed_by_hand():
    # one pixel, one category, one template in 2-D
    dense = torch.tensor([1.0, 0.0]).reshape(1, 2, 1, 1)
    text = torch.tensor([0.0, 2.0]).reshape(1, 1, 1, 2)  # n(T) = (0, 1)
    visual = torch.tensor([3.0, 0.0]).reshape(1, 1, 1, 2)  # n(V) = (1, 0)
    # R = (0.5, 0.5): cos((1, 0), R) = 1 / sqrt(2)
    cost = dual_prompt_cost_volume(dense, text, visual, fusion='avg_embed')
    assert cost.shape == (1, 1, 1, 1, 1)
    assert cost.item() == pytest.approx(2**-0.5, abs=1e-6)
    # avg_cost: (cos(E, T) + cos(E, V)) / 2 = (0 + 1) / 2
    cost = dual_prompt_cost_volume(dense, text, visual, fusion='avg_cost')
    assert cost.item() == pytest.approx(0.5, abs=1e-6)
    cost = dual_prompt_cost_volume(dense, text, visual, fusion='concat_cost')
    assert cost.flatten().tolist() == pytest.approx([0.0, 1.0], abs=1e-6)
    cost = dual_prompt_cost_volume(dense, text, visual, fusion='visual_only')
    assert cost.item() == pytest.approx(1.0, abs=1e-6)


def test_avg_embed_matches_einsum_on_random_tensors():
    dense, text, visual = _inputs()
    cost = dual_prompt_cost_volume(dense, text, visual, fusion='avg_embed')
    r = (F.normalize(text, dim=-1) + F.normalize(visual, dim=-1)) / 2
    ref = torch.einsum('bdhw,bkpd->bkphw', F.normalize(dense, dim=1),
                       F.normalize(r, dim=-1))
    torch.testing.assert_close(cost, ref)
    assert cost.abs().max() <= 1 + 1e-6


def test_text_only_equals_the_text_cost_exactly():
    dense, text, visual = _inputs()
    expected = cosine_cost_volume(dense, text)
    for vis in (visual, None):
        got = dual_prompt_cost_volume(dense, text, vis, fusion='text_only')
        assert torch.equal(got, expected)


def test_categories_without_prompts_fall_back_to_text():
    dense, text, visual = _inputs()
    has = torch.tensor([[True, False, True], [False, False, False]])
    text_cost = cosine_cost_volume(dense, text)
    for fusion in ('avg_embed', 'avg_cost', 'visual_only'):
        cost = dual_prompt_cost_volume(dense, text, visual, has, fusion)
        torch.testing.assert_close(cost[~has], text_cost[~has])
        assert not torch.allclose(cost[has], text_cost[has])
    cost = dual_prompt_cost_volume(dense, text, visual, has, 'concat_cost')
    assert cost.shape[2] == 4
    torch.testing.assert_close(cost[~has][:, 2:], text_cost[~has])
    torch.testing.assert_close(cost[:, :, :2], text_cost)


def test_cost_channels():
    assert cost_channels('concat_cost', 3) == 6
    assert [cost_channels(f, 3) for f in PROMPT_FUSIONS
            if f != 'concat_cost'] == [3] * 4


def test_bad_arguments():
    dense, text, visual = _inputs()
    with pytest.raises(ValueError, match='fusion must be one of'):
        dual_prompt_cost_volume(dense, text, visual, fusion='sum')
    with pytest.raises(ValueError, match='needs visual_embeds'):
        dual_prompt_cost_volume(dense, text, None, fusion='avg_embed')
    with pytest.raises(ValueError, match='must match text_embeds'):
        dual_prompt_cost_volume(dense, text, visual[:, :2], fusion='avg_cost')
    with pytest.raises(ValueError, match='has_visual'):
        dual_prompt_cost_volume(dense, text, visual,
                                torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match='fusion must be one of'):
        cost_channels('x', 2)
