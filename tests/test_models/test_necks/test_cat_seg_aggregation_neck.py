import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from dcp_mm.models.layers import cosine_cost_volume
from dcp_mm.structures import CategorySelection


def build(**kw):
    cfg = dict(
        type='CATSegAggregationNeck',
        embed_dims=16,
        num_templates=2,
        cost_dims=16,
        appearance_dims=8,
        text_guidance_dims=8,
        num_heads=2,
        window_size=4,
        pad_len=6)
    cfg.update(kw)
    return MODELS.build(cfg)


def inputs(b=2, k=3, p=2, d=16, h=8, w=8):
    dense = torch.randn(b, d, h, w)
    text = F.normalize(torch.randn(b, k, p, d), dim=-1)
    sel = CategorySelection(
        torch.arange(k).expand(b, k), torch.ones(b, k, dtype=torch.bool))
    return dense, text, sel


def test_forward_shapes_and_op_order():
    neck = build()
    dense, text, sel = inputs()
    out = neck(dense, text, sel)
    assert out.cost_embed.shape == (2, 3, 16, 8, 8)
    torch.testing.assert_close(out.cost_volume,
                               cosine_cost_volume(dense, text))
    # steps 3, 4, 6, 7 of the official Aggregator, composed by hand
    x = F.conv2d(
        out.cost_volume.flatten(0, 1),
        neck.cost_embed.weight,
        neck.cost_embed.bias,
        padding=3).reshape(2, 3, 16, 8, 8)
    app = F.relu(
        F.conv2d(
            dense,
            neck.appearance_proj.weight,
            neck.appearance_proj.bias,
            padding=1))
    t = text.mean(2)
    t = t / t.norm(dim=-1, keepdim=True)
    tg = F.relu(
        F.linear(t, neck.text_guidance_proj.weight,
                 neck.text_guidance_proj.bias))
    for layer in neck.layers:
        x = layer(x, app, tg, None)
    torch.testing.assert_close(out.cost_embed, x)
    assert len(neck.layers) == 2


def test_no_layers_is_the_cost_embedding():
    neck = build(num_layers=0)
    dense, text, sel = inputs()
    out = neck(dense, text, sel)
    ref = neck.cost_embed(out.cost_volume.flatten(0, 1))
    torch.testing.assert_close(out.cost_embed, ref.reshape(2, 3, 16, 8, 8))


def test_batched_padded_selection_equals_per_image():
    neck = build()
    with torch.no_grad():
        for p in neck.parameters():
            p.add_(0.05 * torch.randn_like(p))
    dense, text, _ = inputs(k=4)
    valid = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]]).bool()
    sel = CategorySelection(torch.arange(4).expand(2, 4), valid)
    both = neck(dense, text, sel).cost_embed
    for i, kb in enumerate((2, 4)):
        one_sel = CategorySelection(
            torch.arange(kb)[None], torch.ones(1, kb, dtype=torch.bool))
        one = neck(dense[i:i + 1], text[i:i + 1, :kb], one_sel).cost_embed
        torch.testing.assert_close(
            both[i:i + 1, :kb], one, atol=1e-5, rtol=1e-5)


def test_eval_pooling_override():
    neck = build(pooling_size=(2, 2), test_pooling_size=(1, 1))
    assert all(layer.class_attention.current_pooling_size() == (2, 2)
               for layer in neck.layers)
    neck.eval()
    assert all(layer.class_attention.current_pooling_size() == (1, 1)
               for layer in neck.layers)
    same = build(pooling_size=(2, 2), test_pooling_size=None).eval()
    assert same.layers[0].class_attention.current_pooling_size() == (2, 2)


def test_backward_every_param_gets_a_finite_grad():
    neck = build()
    dense, text, sel = inputs()
    out = neck(dense.requires_grad_(), text, sel)
    out.cost_embed.square().mean().backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_bad_arguments():
    with pytest.raises(ValueError, match='cost_dims'):
        build(cost_dims=15)
    with pytest.raises(ValueError, match='num_layers'):
        build(num_layers=-1)
    with pytest.raises(ValueError, match='embed_dims'):
        build(embed_dims=0)
    neck = build()
    dense, text, sel = inputs(p=3)
    with pytest.raises(ValueError, match='P=2'):
        neck(dense, text, sel)
    dense, text, sel = inputs()
    with pytest.raises(ValueError, match='embedding dims differ'):
        neck(dense[:, :8], text, sel)
