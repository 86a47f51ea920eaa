"""SED decoder (SED sed/modeling/transformer/model.py) and category early
rejection."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from dcp_mm.structures import CategorySelection, CostFeatures
from dcp_mm.testing import make_head_inputs

H = W = 2  # res5 grid


def build(**kw):
    cfg = dict(
        type='SEDGradualFusionHead',
        in_channels=16,
        channels=4,
        clip_channels=16,
        num_templates=2,
        decoder_dims=(8, 8, 4),
        guidance_dims=(4, 2, 2),
        num_heads=2)
    cfg.update(kw)
    head = MODELS.build(cfg)
    with torch.no_grad():
        for p in head.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return head


def inputs(b=2, k=3, valid=None):
    cost = CostFeatures(
        torch.randn(b, k, 16, H, W),
        torch.rand(b, k, 2, H, W) * 2 - 1)
    if valid is None:
        valid = torch.ones(b, k, dtype=torch.bool)
    sel = CategorySelection(torch.arange(k).expand(b, k), valid)
    # res2 (C/8, 8h), res3 (C/4, 4h), res4 (C/2, 2h), res5 (C, h)
    feats = [
        torch.randn(b, c, H * s, W * s)
        for c, s in ((2, 8), (4, 4), (8, 2), (16, 1))
    ]
    return make_head_inputs(
        cost=cost, inter_feats=feats, attn=None, selection=sel)


def slice_inputs(inp, i, keep):
    """Image i with the categories ``keep`` (all valid)."""
    c = inp.cost
    k = len(keep)
    return make_head_inputs(
        cost=CostFeatures(c.cost_embed[i:i + 1, keep], c.cost_volume[i:i + 1,
                                                                     keep]),
        inter_feats=[f[i:i + 1] for f in inp.inter_feats],
        attn=None,
        selection=CategorySelection(
            torch.arange(k)[None], torch.ones(1, k, dtype=torch.bool)))


def slow_head(head, inp):
    """Official conv_decoder: guidance projections, chained corr guidance,
    aux heads on the stage inputs, three Up stages, final head."""
    cost = inp.cost
    b, k = cost.cost_embed.shape[:2]
    x = cost.cost_embed.flatten(0, 1)
    cg = cost.cost_volume.flatten(0, 1)
    feats = inp.inter_feats
    aux = []
    for i, res in enumerate((2, 1, 0)):
        conv = head.guidance_proj[i][0]
        g = F.relu(F.conv2d(feats[res], conv.weight, conv.bias, padding=1))
        up = head.cost_up[i][0]
        cg = F.relu(F.conv_transpose2d(cg, up.weight, up.bias, stride=2))
        a = head.aux_heads[i]
        aux.append(
            F.conv2d(x, a.weight, a.bias,
                     padding=1).reshape(b, k, *x.shape[-2:]))
        x = head.blocks[i](x, g, cg)
    out = F.conv2d(x, head.conv_seg.weight, head.conv_seg.bias, padding=1)
    return out.reshape(b, k, *out.shape[-2:]), aux


def test_forward_matches_official_op_order():
    head = build()
    inp = inputs()
    logits, aux = head.forward_with_aux(inp)
    assert logits.shape == (2, 3, 8 * H, 8 * W)
    assert [a.shape[-1] for a in aux] == [W, 2 * W, 4 * W]
    ref, ref_aux = slow_head(head, inp)
    torch.testing.assert_close(logits, ref, atol=1e-5, rtol=1e-5)
    for a, r in zip(aux, ref_aux):
        torch.testing.assert_close(a, r, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(head(inp), logits)


def test_default_widths_follow_the_official_config():
    head = MODELS.build(
        dict(
            type='SEDGradualFusionHead', clip_channels=1024, num_templates=80))
    assert [p[0].in_channels for p in head.guidance_proj] == [512, 256, 128]
    assert [p[0].out_channels for p in head.guidance_proj] == [32, 16, 8]
    assert [u[0].in_channels for u in head.cost_up] == [80, 32, 16]
    assert [b.fuse.convs[0].conv.in_channels
            for b in head.blocks] == [160, 80, 40]
    assert [a.in_channels for a in head.aux_heads] == [128, 64, 32]


def test_loss_backward_and_detached_guidance():
    head = build()
    inp = inputs()
    for f in inp.inter_feats:
        f.requires_grad_()
    samples = []
    for _ in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 32, 32)))
        samples.append(s)
    losses = head.loss(inp, samples, {})
    assert set(losses) == {
        'loss_bce', 'loss_aux0', 'loss_aux1', 'loss_aux2', 'bce_baseline'
    }
    sum(losses.values()).backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # official: fusion features are .detach()-ed
    assert all(f.grad is None for f in inp.inter_feats)


def test_cer_with_large_k_equals_the_plain_path():
    head = build(cer_topk=3).eval()
    inp = inputs()
    with torch.no_grad():
        fast = head(inp)
        head.cer_topk = None
        plain = head(inp)
    torch.testing.assert_close(fast, plain)


def test_cer_rejects_a_category_outside_every_top_k():
    head = build(cer_topk=2).eval()
    with torch.no_grad():
        # aux map of stage 0 = channel 0 of the cost feature; later stages
        # score all categories equally (nothing more can be rejected)
        for a in head.aux_heads:
            a.weight.zero_()
            a.bias.zero_()
        head.aux_heads[0].weight[0, 0, 1, 1] = 1.0
    inp = inputs(b=1, k=3)
    emb = inp.cost.cost_embed
    emb[:, :, 0] = torch.tensor([5.0, 4.0, -5.0])[:, None, None]
    with torch.no_grad():
        out = head(inp)
        assert torch.all(out[:, 2] == -100.0)
        assert torch.all(out[:, :2] > -100.0)
        # survivors: class attention over the survivors only (official)
        head.cer_topk = None
        ref = head(slice_inputs(inp, 0, [0, 1]))
    torch.testing.assert_close(out[:, :2], ref, atol=1e-5, rtol=1e-5)


def test_cer_batched_with_padding_equals_per_image():
    head = build(cer_topk=1).eval()
    valid = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]).bool()
    inp = inputs(b=2, k=4, valid=valid)
    with torch.no_grad():
        both = head(inp)
        for i, kb in enumerate((4, 2)):
            one = head(slice_inputs(inp, i, list(range(kb))))
            torch.testing.assert_close(
                both[i:i + 1, :kb], one, atol=1e-5, rtol=1e-5)
    # something was rejected (k = 1), and only with the -100 logit
    rejected = (both == -100.0).flatten(2).all(-1) & valid
    assert rejected.any()
    assert torch.all((both > -100.0).flatten(2).all(-1) | rejected | ~valid)


def test_cer_is_inference_only():
    head = build(cer_topk=1)
    inp = inputs()
    head.train()
    train_out = head(inp)
    head.cer_topk = None
    torch.testing.assert_close(train_out, head(inp))


def test_bad_arguments():
    with pytest.raises(ValueError, match='cer_topk'):
        build(cer_topk=0)
    with pytest.raises(ValueError, match='guidance_dims needs 3'):
        build(guidance_dims=(4, 2))
    with pytest.raises(ValueError, match='smaller than in_channels'):
        build(guidance_dims=(16, 2, 2))
