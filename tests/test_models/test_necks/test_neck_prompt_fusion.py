"""The ``fusion`` option of the cost necks (DPSeg's dual-prompt cost):
``text_only`` equals the existing text cost exactly, the other fusions
change the cost volume, ``concat_cost`` doubles the cost channels."""
import pytest
import torch
from mmseg.registry import MODELS

from dcp_mm.models.layers.cost_volume import cosine_cost_volume
from dcp_mm.structures import CategorySelection
from dcp_mm.testing import TINY_NECKS

B, K, P, D, H = 2, 3, 2, 32, 4


def _build(name, **kw):
    cfg = dict(TINY_NECKS[name], embed_dims=D, num_templates=P, **kw)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _inputs():
    g = torch.Generator().manual_seed(0)
    dense = torch.randn(B, D, H, H, generator=g)
    text = torch.nn.functional.normalize(
        torch.randn(B, K, P, D, generator=g), dim=-1)
    visual = torch.randn(B, K, P, D, generator=g)
    sel = CategorySelection(
        torch.arange(K).expand(B, K), torch.ones(B, K, dtype=torch.bool),
        torch.randn(B, 5, generator=g))
    return dense, text, visual, sel


@pytest.mark.parametrize('name', ['TGA', 'CAT-Seg aggregation'])
def test_text_only_equals_the_plain_neck(name):
    dense, text, visual, sel = _inputs()
    plain = _build(name).eval()
    fused = _build(name, fusion='text_only').eval()
    a = plain(dense, text, sel)
    b = fused(
        dense,
        text,
        sel,
        visual_embeds=visual,
        has_visual=torch.ones(B, K, dtype=torch.bool))
    assert torch.equal(a.cost_volume, cosine_cost_volume(dense, text))
    assert torch.equal(a.cost_volume, b.cost_volume)
    assert torch.equal(a.cost_embed, b.cost_embed)


@pytest.mark.parametrize('name', ['TGA', 'CAT-Seg aggregation'])
@pytest.mark.parametrize('fusion', ['avg_embed', 'concat_cost'])
def test_dual_prompt_fusions(name, fusion):
    dense, text, visual, sel = _inputs()
    neck = _build(name, fusion=fusion)
    p_out = 2 * P if fusion == 'concat_cost' else P
    assert neck.cost_spec.num_templates == p_out
    out = neck(
        dense,
        text,
        sel,
        visual_embeds=visual,
        has_visual=torch.ones(B, K, dtype=torch.bool))
    assert out.cost_volume.shape == (B, K, p_out, H, H)
    text_cost = cosine_cost_volume(dense, text)
    if fusion == 'concat_cost':  # [text cost ; visual cost]
        torch.testing.assert_close(out.cost_volume[:, :, :P], text_cost)
    else:
        assert not torch.allclose(out.cost_volume, text_cost)
    out.cost_embed.sum().backward()
    for n, p in neck.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), n


@pytest.mark.parametrize('name', ['TGA', 'CAT-Seg aggregation'])
def test_bad_fusion(name):
    with pytest.raises(ValueError, match='fusion must be one of'):
        _build(name, fusion='mean')
    dense, text, _, sel = _inputs()
    with pytest.raises(ValueError, match='needs visual_embeds'):
        _build(name, fusion='avg_embed')(dense, text, sel)
