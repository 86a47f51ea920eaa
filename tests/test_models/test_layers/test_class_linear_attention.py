"""Class linear attention vs a direct implementation of the formulas.

References: CAT-Seg cat_seg/modeling/transformer/model.py(CAT-Seg
``ClassTransformerLayer``,
``LinearAttention``) and 7.5 (SED, no padding tokens, no guidance).
"""
import pytest
import torch
import torch.nn.functional as F

from dcp_mm.models.layers import (ClassLinearAttention, ClassTransformerLayer,
                                  linear_attention)


def slow_linear_attention(q, k, v, eps=1e-6):
    """out_l = sum_s phi(q_l).phi(k_s) v_s / (phi(q_l).sum_s phi(k_s) + eps),
    loop over rows, heads and queries (phi = elu + 1)."""
    n, length, h, _ = q.shape
    out = torch.zeros(n, length, h, v.shape[-1], dtype=q.dtype)
    phi_q, phi_k = F.elu(q) + 1, F.elu(k) + 1
    for i in range(n):
        for hh in range(h):
            k_sum = phi_k[i, :, hh].sum(0)
            for l_ in range(length):
                w = phi_k[i, :, hh] @ phi_q[i, l_, hh]  # (S,)
                num = (w[:, None] * v[i, :, hh]).sum(0)
                out[i, l_, hh] = num / (phi_q[i, l_, hh] @ k_sum + eps)
    return out


def slow_class_layer(layer, x, guidance, pool):
    """Official op order on (B, K, C, H, W), pad tokens appended, no mask."""
    b, k, c, h, w = x.shape
    ph, pw = pool
    hp, wp = h // ph, w // pw
    # average pooling by explicit block means
    xp = x[..., :hp * ph, :wp * pw].reshape(b, k, c, hp, ph, wp, pw)
    xp = xp.mean(dim=(4, 6))
    tokens = xp.permute(0, 3, 4, 1, 2).reshape(b * hp * wp, k, c)
    g = None
    if guidance is not None:
        g = guidance[:, None, None].expand(b, hp, wp, k, -1)
        g = g.reshape(b * hp * wp, k, -1)
    if layer.pad_len > k:
        extra = layer.pad_len - k
        tokens = torch.cat(
            [tokens,
             layer.padding_tokens.expand(len(tokens), extra, -1)], 1)
        if g is not None:
            g = torch.cat(
                [g, layer.padding_guidance.expand(len(g), extra, -1)], 1)
    att = layer.attention
    y = F.layer_norm(tokens, (c, ), layer.norm1.weight, layer.norm1.bias)
    qk = y if g is None else torch.cat([y, g], -1)
    nh = att.num_heads

    def heads(t):
        return t.reshape(t.shape[0], t.shape[1], nh, -1)

    q = heads(F.linear(qk, att.q.weight, att.q.bias))
    kk = heads(F.linear(qk, att.k.weight, att.k.bias))
    v = heads(F.linear(y, att.v.weight, att.v.bias))
    tokens = tokens + slow_linear_attention(q, kk, v).flatten(2)
    y = F.layer_norm(tokens, (c, ), layer.norm2.weight, layer.norm2.bias)
    mlp = layer.mlp
    tokens = tokens + F.linear(
        F.relu(F.linear(y, mlp.fc1.weight, mlp.fc1.bias)), mlp.fc2.weight,
        mlp.fc2.bias)
    out = tokens[:, :k].reshape(b, hp, wp, k, c).permute(0, 3, 4, 1, 2)
    if (ph, pw) != (1, 1):
        out = F.interpolate(
            out.reshape(b * k, c, hp, wp), (h, w),
            mode='bilinear',
            align_corners=True).reshape(b, k, c, h, w)
    return x + out


def test_linear_attention_matches_formula():
    q, k, v = (torch.randn(3, 5, 2, 4) for _ in range(3))
    torch.testing.assert_close(
        linear_attention(q, k, v), slow_linear_attention(q, k, v))


def test_key_mask_equals_dropping_the_keys():
    q, k, v = (torch.randn(2, 5, 2, 4) for _ in range(3))
    mask = torch.tensor([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1]]).bool()
    out = linear_attention(q, k, v, mask)
    for i in range(2):
        keep = mask[i]
        ref = slow_linear_attention(q[i:i + 1], k[i:i + 1, keep], v[i:i + 1,
                                                                    keep])
        torch.testing.assert_close(out[i:i + 1], ref)


@pytest.mark.parametrize('pad_len,guidance_dim,pool', [(0, 0, (2, 2)),
                                                       (7, 4, (2, 2)),
                                                       (7, 4, (1, 1)),
                                                       (0, 4, (2, 1))])
def test_layer_matches_official_op_order(pad_len, guidance_dim, pool):
    layer = ClassTransformerLayer(
        8, guidance_dim, 2, pooling_size=pool, pad_len=pad_len)
    with torch.no_grad():  # non-trivial padding tokens / affine params
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(2, 3, 8, 4, 6)
    g = torch.randn(2, 3, guidance_dim) if guidance_dim else None
    out = layer(x, g)
    assert out.shape == x.shape
    torch.testing.assert_close(
        out, slow_class_layer(layer, x, g, pool), atol=1e-5, rtol=1e-5)


def test_padding_tokens_are_keys_not_masked():
    """Official: padding tokens take part in attention (not masked)."""
    layer = ClassTransformerLayer(8, 4, 2, pad_len=6)
    x, g = torch.randn(1, 3, 8, 4, 4), torch.randn(1, 3, 4)
    a = layer(x, g)
    with torch.no_grad():
        # (a constant token would be LayerNorm'd to the same zero vector)
        layer.padding_tokens.copy_(torch.randn(1, 1, 8))
    assert not torch.allclose(a, layer(x, g))
    # with K >= pad_len no padding is appended: padding tokens unused
    x5, g5 = torch.randn(1, 6, 8, 4, 4), torch.randn(1, 6, 4)
    b = layer(x5, g5)
    with torch.no_grad():
        layer.padding_tokens.copy_(torch.randn(1, 1, 8))
    torch.testing.assert_close(b, layer(x5, g5))


@pytest.mark.parametrize('pad_len,guidance_dim', [(0, 0), (8, 4)])
def test_batched_padded_equals_per_image(pad_len, guidance_dim):
    """Images with K_b = 2 and 4 in one padded batch == unbatched runs."""
    layer = ClassTransformerLayer(8, guidance_dim, 2, pad_len=pad_len)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(2, 4, 8, 4, 4)
    g = torch.randn(2, 4, guidance_dim) if guidance_dim else None
    valid = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]]).bool()
    both = layer(x, g, valid)
    for i, kb in enumerate((2, 4)):
        one = layer(x[i:i + 1, :kb], None if g is None else g[i:i + 1, :kb])
        torch.testing.assert_close(
            both[i:i + 1, :kb], one, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(both).all()


def test_test_pooling_size_in_eval_mode():
    layer = ClassTransformerLayer(
        8, 0, 2, pooling_size=(2, 2), test_pooling_size=(1, 1))
    x = torch.randn(1, 3, 8, 4, 4)
    layer.eval()
    assert layer.current_pooling_size() == (1, 1)
    torch.testing.assert_close(
        layer(x), slow_class_layer(layer, x, None, (1, 1)))
    layer.train()
    assert layer.current_pooling_size() == (2, 2)
    torch.testing.assert_close(
        layer(x), slow_class_layer(layer, x, None, (2, 2)))


def test_backward_all_params_get_finite_grads():
    layer = ClassTransformerLayer(8, 4, 2, pad_len=5)
    x = torch.randn(2, 3, 8, 4, 4, requires_grad=True)
    layer(x, torch.randn(2, 3, 4)).square().mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert torch.isfinite(x.grad).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match='divisible'):
        ClassLinearAttention(10, 0, 4)
    with pytest.raises(ValueError, match='pad_len'):
        ClassTransformerLayer(8, 0, 2, pad_len=-1)
    with pytest.raises(ValueError, match='pooling_size'):
        ClassTransformerLayer(8, 0, 2, pooling_size=(0, 2))
    layer = ClassTransformerLayer(8, 4, 2)
    with pytest.raises(ValueError, match='guidance'):
        layer(torch.randn(1, 3, 8, 4, 4), None)
    with pytest.raises(ValueError, match='does not match'):
        layer(torch.randn(1, 3, 8, 4, 4), torch.randn(1, 2, 4))
    with pytest.raises(ValueError, match=r'\(B, K, C, H, W\)'):
        layer(torch.randn(3, 8, 4, 4), torch.randn(1, 3, 4))
