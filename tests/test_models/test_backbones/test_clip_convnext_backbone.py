"""OpenCLIP ConvNeXt backbone (SED's dense path, SED sed/modeling/backbone +
open_clip timm_model.py)."""
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS


def build(**kw):
    cfg = dict(
        type='CLIPConvNeXtBackbone',
        model_name='dcp-tiny-convnext',
        pretrained=None,
        finetune='full')
    cfg.update(kw)
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def backbone():
    torch.manual_seed(0)
    return build().eval()


def test_attributes_and_shapes(backbone):
    assert backbone.stage_channels == [40, 80, 160, 320]
    assert backbone.width == 320 and backbone.embed_dims == 32
    assert backbone.reduction == 32
    img = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        out = backbone(img)
    assert out.cls_embed.shape == (2, 32)
    assert out.dense_embeds.shape == (2, 32, 2, 3)
    assert [tuple(f.shape[1:]) for f in out.inter_feats] == [(40, 16, 24),
                                                             (80, 8, 12),
                                                             (160, 4, 6),
                                                             (320, 2, 3)]
    assert out.attn_weights is None


def test_embeddings_follow_sed_and_open_clip(backbone):
    img = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = backbone(img)
        # [CLS]-like: the ordinary open_clip image embedding
        torch.testing.assert_close(out.cls_embed, backbone.visual(img))
        # dense: per pixel LayerNorm2d (eps 1e-6) of res5, then head.proj
        res5 = out.inter_feats[-1]
        norm = backbone.visual.trunk.head.norm
        x = F.layer_norm(
            res5.permute(0, 2, 3, 1), (320, ),
            norm.weight,
            norm.bias,
            eps=1e-6)
        proj = backbone.visual.head.proj
        assert proj.bias is None
        ref = (x @ proj.weight.t()).permute(0, 3, 1, 2)
        torch.testing.assert_close(out.dense_embeds, ref, atol=1e-5, rtol=1e-5)
        # the stage outputs are the raw trunk stages
        feats = backbone.visual.trunk.forward_features(img)
        torch.testing.assert_close(res5, feats)


def test_full_finetune_backward():
    model = build()
    assert all(p.requires_grad for p in model.parameters())
    out = model(torch.randn(2, 3, 64, 64))
    (out.dense_embeds.square().mean() + out.cls_embed.square().mean() +
     sum(f.mean() for f in out.inter_feats)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_last_feats_are_res5(backbone):
    img = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        out = backbone(img)
    # res5 after norm_pre (an identity for these towers)
    torch.testing.assert_close(
        out.last_feats, backbone.visual.trunk.norm_pre(out.inter_feats[-1]))
    assert out.last_feats.shape == (2, 320, 2, 3)


def test_maftp_stem_stages_finetune():
    model = build(finetune='stem+stages')
    names = {n for n, p in model.visual.named_parameters() if p.requires_grad}
    assert names == set(model.trainable_names)
    assert names and all(
        n.startswith(('trunk.stem.', 'trunk.stages.', 'trunk.norm_pre.'))
        for n in names)
    every = {n for n, _ in model.visual.named_parameters()}
    assert every - names == {
        n
        for n in every if n.startswith(('trunk.head.', 'head.'))
    }
    out = model(torch.randn(1, 3, 64, 64))
    out.dense_embeds.square().mean().backward()
    for name, p in model.visual.named_parameters():
        assert (p.grad is not None) == (name in names), name


def test_frozen():
    model = build(finetune='frozen')
    assert not any(p.requires_grad for p in model.parameters())
    assert model.trainable_names == []


def test_bad_arguments(backbone):
    with pytest.raises(ValueError, match='finetune'):
        build(finetune='attention')
    with pytest.raises(ValueError, match='not an open_clip timm ConvNeXt'):
        build(model_name='dcp-tiny')
    with pytest.raises(ValueError, match='multiple of 32'):
        backbone(torch.randn(1, 3, 48, 64))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        backbone(torch.randn(3, 64, 64))
