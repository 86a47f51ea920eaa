"""One CAT-Seg aggregation layer vs a direct implementation.

Reference: CAT-Seg cat_seg/modeling/transformer/model.py(Swin wrapper:
guidance LayerNorm'd once,
block_1 regular windows, block_2 shifted with the -100 mask, no relative
position bias, pre-norm residuals, timm Mlp with exact GELU) then 4.7b
(class attention, checked against the formulas in
test_class_linear_attention.py).
"""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dcp_mm.models.layers import CATSegAggregationLayer


def region_ids(n: int, window: int, shift: int) -> torch.Tensor:
    """Swin's shifted-window regions along one axis of length n."""
    ids = torch.zeros(n, dtype=torch.long)
    ids[n - window:n - shift] = 1
    ids[n - shift:] = 2
    return ids


def slow_swin_block(blk, x, g, window, shift, heads):
    """x (N, H, W, C), g (N, H, W, G) already normalised -> (N, H, W, C)."""
    n, h, w, c = x.shape
    attn = blk.attn
    xn = F.layer_norm(x, (c, ), blk.norm1.weight, blk.norm1.bias)
    cat = torch.cat([xn, g], dim=-1)
    if shift:
        xn = torch.roll(xn, (-shift, -shift), (1, 2))
        cat = torch.roll(cat, (-shift, -shift), (1, 2))
    rid = region_ids(h, window, shift)[:, None] * 3 + \
        region_ids(w, window, shift)[None]
    out = torch.zeros_like(x)
    d = c // heads
    for i in range(0, h, window):
        for j in range(0, w, window):
            tok = cat[:, i:i + window,
                      j:j + window].reshape(n, -1, cat.shape[-1])
            val = xn[:, i:i + window, j:j + window].reshape(n, -1, c)
            q = F.linear(tok, attn.q.weight, attn.q.bias)
            k = F.linear(tok, attn.k.weight, attn.k.bias)
            v = F.linear(val, attn.v.weight, attn.v.bias)
            r = rid[i:i + window, j:j + window].reshape(-1)
            mask = torch.where(r[:, None] == r[None], 0.0, -100.0)
            res = []
            for hh in range(heads):
                sl = slice(hh * d, (hh + 1) * d)
                a = (q[..., sl] * d**-0.5) @ k[..., sl].transpose(1, 2)
                if shift:
                    a = a + mask
                res.append(a.softmax(-1) @ v[..., sl])
            y = F.linear(torch.cat(res, -1), attn.proj.weight, attn.proj.bias)
            out[:, i:i + window,
                j:j + window] = y.reshape(n, window, window, c)
    if shift:
        out = torch.roll(out, (shift, shift), (1, 2))
    x = x + out
    y = F.layer_norm(x, (c, ), blk.norm2.weight, blk.norm2.bias)
    y = F.linear(
        F.gelu(F.linear(y, blk.mlp.fc1.weight, blk.mlp.fc1.bias)),
        blk.mlp.fc2.weight, blk.mlp.fc2.bias)
    return x + y


def perturb(module):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))


def test_structure_matches_official():
    layer = CATSegAggregationLayer(16, 8, 6, 2, 4, pad_len=5)
    # one guidance LayerNorm per layer (official swin_block.guidance_norm)
    assert isinstance(layer.guidance_norm, nn.LayerNorm)
    assert all(
        isinstance(b.guidance_norm, nn.Identity) for b in layer.swin_blocks)
    assert [b.attn.shift_size for b in layer.swin_blocks] == [0, 2]
    for b in layer.swin_blocks:
        assert b.attn.q.in_features == 24 and b.attn.v.in_features == 16
        assert not any('relative_position' in n
                       for n, _ in b.named_parameters())
        assert b.mlp.fc1.out_features == 64
        assert isinstance(b.mlp.act, nn.GELU) and \
            b.mlp.act.approximate == 'none'
    ca = layer.class_attention
    assert ca.padding_tokens.shape == (1, 1, 16)
    assert ca.padding_guidance.shape == (1, 1, 6)


def test_layer_matches_direct_implementation():
    torch.manual_seed(0)
    layer = CATSegAggregationLayer(
        16, 8, 6, num_heads=2, window_size=4, pooling_size=(2, 2), pad_len=5)
    perturb(layer)
    b, k, h, w = 2, 3, 8, 8
    x = torch.randn(b, k, 16, h, w)
    app = torch.randn(b, 8, h, w)
    text = torch.randn(b, k, 6)
    out = layer(x, app, text)
    assert out.shape == x.shape
    # reference: LN of the repeated guidance, two blocks, class attention
    g = app.repeat_interleave(k, 0).permute(0, 2, 3, 1)  # (B*K, h, w, G)
    g = F.layer_norm(g, (8, ), layer.guidance_norm.weight,
                     layer.guidance_norm.bias)
    y = x.flatten(0, 1).permute(0, 2, 3, 1)
    for blk, shift in zip(layer.swin_blocks, (0, 2)):
        y = slow_swin_block(blk, y, g, 4, shift, 2)
    y = y.permute(0, 3, 1, 2).reshape(b, k, 16, h, w)
    ref = layer.class_attention(y, text)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_backward_and_padding_invariance():
    layer = CATSegAggregationLayer(16, 8, 6, 2, 4, pad_len=5)
    perturb(layer)
    x = torch.randn(2, 3, 16, 8, 8)
    app, text = torch.randn(2, 8, 8, 8), torch.randn(2, 3, 6)
    valid = torch.tensor([[True, True, False], [True, True, True]])
    out = layer(x, app, text, valid)
    one = layer(x[:1, :2], app[:1], text[:1, :2])
    torch.testing.assert_close(out[:1, :2], one, atol=1e-5, rtol=1e-5)
    out.square().mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_bad_arguments():
    with pytest.raises(ValueError, match='appearance'):
        CATSegAggregationLayer(16, 0, 6)
    with pytest.raises(ValueError, match='divisible'):
        CATSegAggregationLayer(16, 8, 6, num_heads=3)
