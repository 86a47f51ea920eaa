"""ContentDependentTransfer (MAFT+ CDT): a direct re-computation with
nn.MultiheadAttention and the sine embedding written out, equivariance,
independence of K, template modes, init, gradients and errors."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

D, HEADS = 16, 8


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def build(**kw):
    cfg = dict(type='ContentDependentTransfer', embed_dims=D, num_heads=HEADS)
    cfg.update(kw)
    return MODELS.build(cfg)


def sine_written_out(h, w, d):
    """(d, h, w): Mask2Former's normalised sine embedding, d/2 per axis."""
    f = d // 2
    pos = torch.zeros(d, h, w)
    for i in range(h):
        for j in range(w):
            y = (i + 0.5) / (h + 1e-6) * 2 * math.pi
            x = (j + 0.5) / (w + 1e-6) * 2 * math.pi
            for c in range(f):
                t = 10000**(2 * (c // 2) / f)
                fn = math.sin if c % 2 == 0 else math.cos
                pos[c, i, j] = fn(y / t)
                pos[f + c, i, j] = fn(x / t)
    return pos


def reference(cdt, text, dense):
    """The official layer with a fresh nn.MultiheadAttention, per image."""
    mha = nn.MultiheadAttention(D, HEADS, dropout=0.0)
    mha.load_state_dict(cdt.attn.state_dict())
    b, _, h, w = dense.shape
    pos = sine_written_out(h, w, D)
    outs = []
    for i in range(b):
        t = text[min(i, text.shape[0] - 1)]  # (K, D)
        mem = dense[i].reshape(D, h * w).t()  # (hw, D)
        key = mem + pos.reshape(D, h * w).t()
        a = mha(t[:, None], key[:, None], mem[:, None])[0][:, 0]  # (K, D)
        outs.append(
            F.layer_norm(t + cdt.proj(a), (D, ), cdt.norm.weight,
                         cdt.norm.bias))
    return torch.stack(outs)


def test_matches_direct_recomputation():
    cdt = build(normalize_output=False)
    with torch.no_grad():  # non-trivial LayerNorm affine
        cdt.norm.weight.uniform_(0.5, 1.5)
        cdt.norm.bias.uniform_(-0.1, 0.1)
    text = F.normalize(torch.randn(2, 5, D), dim=-1)
    dense = torch.randn(2, D, 3, 4)
    out = cdt(text, dense)
    assert out.shape == (2, 5, D)
    torch.testing.assert_close(out, reference(cdt, text, dense))
    # shared text (batch 1) is broadcast over the images
    out1 = cdt(text[:1], dense)
    torch.testing.assert_close(out1, reference(cdt, text[:1], dense))
    # L2-normalised output by default
    cdt.normalize_output = True
    torch.testing.assert_close(
        cdt(text, dense), F.normalize(reference(cdt, text, dense), dim=-1))
    assert torch.allclose(cdt(text, dense).norm(dim=-1), torch.ones(2, 5))


def test_permutation_equivariant_and_independent_of_k():
    cdt = build().eval()
    text = F.normalize(torch.randn(2, 6, 3, D), dim=-1)  # (B, K, P, D)
    dense = torch.randn(2, D, 4, 4)
    out = cdt(text, dense)
    perm = torch.randperm(6)
    torch.testing.assert_close(cdt(text[:, perm], dense), out[:, perm])
    for k in range(6):  # one category alone = inside the batch
        torch.testing.assert_close(
            cdt(text[:, k:k + 1], dense), out[:, k:k + 1])


def test_template_modes():
    text = F.normalize(torch.randn(2, 4, 3, D), dim=-1)
    dense = torch.randn(2, D, 3, 3)
    per_class = build(per_template=False)
    out = per_class(text, dense)
    assert out.shape == (2, 4, 3, D)
    # one class embedding, copied to every template slot
    assert torch.equal(out[:, :, 0], out[:, :, 2])
    avg = F.normalize(text.mean(dim=2), dim=-1)
    torch.testing.assert_close(out[:, :, 1], per_class(avg, dense))
    per_tpl = build(per_template=True)
    per_tpl.load_state_dict(per_class.state_dict())
    out_t = per_tpl(text, dense)
    assert out_t.shape == (2, 4, 3, D)
    for p in range(3):
        torch.testing.assert_close(out_t[:, :, p],
                                   per_tpl(text[:, :, p], dense))
    assert not torch.allclose(out_t[:, :, 0], out_t[:, :, 1])


def test_official_initialisation():
    cdt = build()
    assert set(dict(cdt.named_parameters())) == {
        'attn.in_proj_weight', 'attn.in_proj_bias', 'attn.out_proj.weight',
        'attn.out_proj.bias', 'norm.weight', 'norm.bias', 'proj.weight',
        'proj.bias'
    }
    assert sum(p.numel() for p in cdt.parameters()) == 5 * D * D + 7 * D
    xavier_in = math.sqrt(6 / (D + 3 * D))
    xavier_out = math.sqrt(6 / (2 * D))
    assert cdt.attn.in_proj_weight.abs().max() <= xavier_in
    assert cdt.attn.out_proj.weight.abs().max() <= xavier_out
    # out_proj was re-initialised (PyTorch's default is 1/sqrt(D) bound)
    assert cdt.attn.out_proj.weight.abs().max() > 1 / math.sqrt(D)
    assert not cdt.attn.in_proj_bias.any()
    assert not cdt.attn.out_proj.bias.any()
    # the Linear keeps PyTorch's default init (bound 1/sqrt(D)), not zero
    assert 0 < cdt.proj.weight.abs().max() <= 1 / math.sqrt(D)
    assert cdt.proj.bias.abs().max() > 0
    assert torch.equal(cdt.norm.weight, torch.ones(D))


def test_backward_every_parameter():
    cdt = build()
    text = F.normalize(torch.randn(1, 3, 2, D), dim=-1).requires_grad_()
    dense = torch.randn(2, D, 3, 3, requires_grad=True)
    cdt(text, dense).square().mul(torch.randn(2, 3, 2, D)).sum().backward()
    for name, p in cdt.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert text.grad.abs().sum() > 0 and dense.grad.abs().sum() > 0


def test_errors():
    with pytest.raises(ValueError, match='divide by num_heads'):
        build(num_heads=5)
    with pytest.raises(ValueError, match='divide by 4'):
        MODELS.build(
            dict(type='ContentDependentTransfer', embed_dims=6, num_heads=2))
    with pytest.raises(ValueError, match='positive int'):
        build(embed_dims=0)
    cdt = build()
    with pytest.raises(ValueError, match='dense_embeds must be'):
        cdt(torch.randn(1, 2, D), torch.randn(1, D + 1, 2, 2))
    with pytest.raises(ValueError, match='text_embeds must be'):
        cdt(torch.randn(1, 2, D + 4), torch.randn(1, D, 2, 2))
    with pytest.raises(ValueError, match='text_embeds must be'):
        cdt(torch.randn(2, D), torch.randn(1, D, 2, 2))
    with pytest.raises(ValueError, match='must be 1 or the image batch 3'):
        cdt(torch.randn(2, 4, D), torch.randn(3, D, 2, 2))
