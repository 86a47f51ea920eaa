import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

import dcp_mm  # noqa: F401
from dcp_mm.models.backbones import CLIPViTBackbone
from dcp_mm.structures import CLIPImageFeatures

TINY = dict(type='CLIPViTBackbone', model_name='dcp-tiny', out_indices=(1, 3))
QV = [
    f'visual.transformer.resblocks.{i}.attn.{w}_proj_weight' for i in range(4)
    for w in 'qv'
]


def build(**kwargs):
    torch.manual_seed(0)
    return MODELS.build({**TINY, **kwargs})


@pytest.mark.parametrize('size,grid', [((32, 32), (4, 4)), ((48, 64), (6, 8))])
def test_forward_shapes(size, grid):
    model = build(with_attn=True)
    assert isinstance(model, CLIPViTBackbone)
    assert (model.embed_dims, model.width) == (32, 64)
    feats = model(torch.randn(2, 3, *size))
    assert isinstance(feats, CLIPImageFeatures)
    n = grid[0] * grid[1]
    assert feats.cls_embed.shape == (2, 32)
    assert feats.dense_embeds.shape == (2, 32, *grid)
    assert [f.shape for f in feats.inter_feats] == [(2, 64, *grid)] * 2
    assert feats.attn_weights.shape == (2, n, n)
    assert feats.attn_weights.min() >= 0
    assert (feats.attn_weights.sum(-1) <= 1 + 1e-6).all()
    assert build()(torch.randn(1, 3, *size)).attn_weights is None


def test_matches_open_clip_reference():
    """cls, plain dense tokens and intermediates equal open_clip's own."""
    model = build(dense_mode='plain', out_indices=(1, 4)).eval()
    img = torch.randn(2, 3, 32, 32)
    vis = model.visual
    with torch.no_grad():
        feats = model(img)
        vis.output_tokens = True
        pooled, tokens = vis(img)  # tokens: ln_post(x)[:, 1:]
        vis.output_tokens = False
        inter = vis.forward_intermediates(
            img, indices=[0, 3], intermediates_only=True)
    torch.testing.assert_close(feats.cls_embed, pooled)
    dense_ref = (tokens @ vis.proj).transpose(1, 2).reshape(2, 32, 4, 4)
    torch.testing.assert_close(feats.dense_embeds, dense_ref)
    for got, ref in zip(feats.inter_feats, inter['image_intermediates']):
        torch.testing.assert_close(got, ref)


def test_last_feats_are_the_last_block_tokens():
    model = build(dense_mode='plain', out_indices=(2, 4)).eval()
    with torch.no_grad():
        feats = model(torch.randn(2, 3, 48, 32))
        assert feats.last_feats.shape == (2, 64, 6, 4)
        # the last block's output (block 4 of 4), before ln_post / proj
        torch.testing.assert_close(feats.last_feats, feats.inter_feats[-1])
        vis = model.visual
        tokens = feats.last_feats.flatten(2).transpose(1, 2)  # (B, N, C_v)
        dense = (vis.ln_post(tokens) @ vis.proj).transpose(1, 2)
        torch.testing.assert_close(feats.dense_embeds,
                                   dense.reshape(2, 32, 6, 4))


def test_maskclip_dense_hand_computation():
    model = build().eval()
    plain = build(dense_mode='plain').eval()
    token = build(dense_residual='token').eval()
    img = torch.randn(2, 3, 32, 32)
    vis = model.visual
    with torch.no_grad():
        feats = model(img)
        x = vis._embeds(img)  # conv1, [CLS], pos, ln_pre
        for blk in vis.transformer.resblocks[:-1]:
            x = blk(x)
        last = vis.transformer.resblocks[-1]
        w = torch.cat([
            last.attn.q_proj_weight, last.attn.k_proj_weight,
            last.attn.v_proj_weight
        ])
        qkv = F.linear(last.ln_1(x), w, last.attn.in_proj_bias)
        v = last.attn.out_proj(qkv[..., 128:])  # value rows 2C:3C
        v = v + x[:, :1]  # CAT-Seg: the input [CLS] token as residual
        v = v + last.mlp(last.ln_2(v))
        ref = (vis.ln_post(v[:, 1:]) @ vis.proj).transpose(1, 2)
        ref = ref.reshape(2, 32, 4, 4)
        torch.testing.assert_close(feats.dense_embeds, ref)
        other = plain(img)
        torch.testing.assert_close(other.cls_embed, feats.cls_embed)
        assert not torch.allclose(other.dense_embeds, feats.dense_embeds)
        assert not torch.allclose(token(img).dense_embeds, feats.dense_embeds)


def test_pos_embed_resize_and_cache():
    model = build(finetune='full').eval()
    pos = model.visual.positional_embedding
    assert model._resize_pos_embed(4, 4) is pos  # native grid: as stored
    with torch.no_grad():
        # bicubic resampling onto the same grid reproduces the stored one
        grid = pos[1:].reshape(1, 4, 4, 64).permute(0, 3, 1, 2)
        same = F.interpolate(
            grid, size=(4, 4), mode='bicubic', align_corners=False)
        torch.testing.assert_close(same, grid)
        resized = model._resize_pos_embed(6, 8)
        ref = F.interpolate(
            grid, size=(6, 8), mode='bicubic', align_corners=False)
        ref = torch.cat([pos[:1], ref.permute(0, 2, 3, 1).reshape(48, 64)])
        torch.testing.assert_close(resized, ref)
        assert model._resize_pos_embed(6, 8) is resized  # cache hit
        pos.add_(1.0)  # e.g. an optimizer step
        again = model._resize_pos_embed(6, 8)
        assert again is not resized  # not stale
        torch.testing.assert_close(again, ref + 1.0)
    # a gradient is needed: no cache, the graph reaches the parameter
    model.train()
    model._pos_cache.clear()
    out = model._resize_pos_embed(6, 8)
    assert not model._pos_cache and out.requires_grad
    out.sum().backward()
    assert pos.grad is not None and torch.isfinite(pos.grad).all()


@pytest.mark.parametrize('mode,expected', [
    ('frozen', []),
    ('attention', QV),
    ('attention+pos', ['visual.positional_embedding'] + QV),
    ('full', None),
])
def test_trainable_parameters(mode, expected):
    model = build(finetune=mode)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if expected is None:
        expected = [n for n, _ in model.named_parameters()]
        assert 'visual.transformer.resblocks.0.attn.k_proj_weight' in names
    assert names == expected
    keys = model.state_dict().keys()
    assert 'visual.transformer.resblocks.3.attn.k_proj_weight' in keys
    assert not any('in_proj_weight' in k for k in keys)


@pytest.mark.parametrize('mode', ['attention', 'attention+pos', 'full'])
def test_backward(mode):
    model = build(finetune=mode, with_attn=True)
    feats = model(torch.randn(2, 3, 48, 32))
    loss = (
        feats.cls_embed.sum() + feats.dense_embeds.square().sum() +
        sum(f.mean()
            for f in feats.inter_feats) + feats.attn_weights.square().sum())
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters()
                 if p.requires_grad]
    assert trainable
    for name, p in trainable:
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_bad_arguments():
    model = build()
    with pytest.raises(ValueError, match='multiple of the patch size'):
        model(torch.randn(1, 3, 36, 32))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        model(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match=r'out_indices \[0\]'):
        build(out_indices=(0, 2))
    with pytest.raises(ValueError, match=r'out_indices \[5\].*\[1, 4\]'):
        build(out_indices=(2, 5))
    with pytest.raises(ValueError, match='dense_mode'):
        build(dense_mode='sclip')
    with pytest.raises(ValueError, match='dense_residual'):
        build(dense_residual='none')
    with pytest.raises(ValueError, match='finetune'):
        build(finetune='lora')
    with pytest.raises(ValueError, match='unknown CLIP model_name'):
        build(model_name='ViT-Q-1')
