"""DPSegCostGuidedHead (CVGD): build, shapes, gradients, which inputs each
``visual_cost_levels`` / ``upsample_cost_instead`` setting uses, loss,
errors."""
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from dcp_mm.structures import (CategorySelection, CLIPFeatureSpec,
                               CLIPImageFeatures, CompositionError,
                               CostFeatures, CostFeatureSpec, HeadInputs,
                               VisualPrompts)
from dcp_mm.testing import random_seg_batch

B, K, P, D, G = 2, 3, 2, 32, 2  # grid 2 x 2 (tiny ConvNeXt at 64 px)
STAGES = (40, 80, 160, 320)


def _head(**kw):
    cfg = dict(
        type='DPSegCostGuidedHead',
        in_channels=16,
        channels=4,
        clip_channels=320,
        num_templates=P,
        decoder_dims=(8, 8, 4),
        guidance_dims=(4, 2, 2),
        visual_cost_dims=(4, 2, 2),
        num_heads=2)
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    cost = CostFeatures(
        torch.randn(B, K, 16, G, G, generator=g),
        torch.rand(B, K, P, G, G, generator=g) * 2 - 1)
    inter = [
        torch.randn(B, c, G * 2**(3 - i), G * 2**(3 - i), generator=g)
        for i, c in enumerate(STAGES)
    ]
    valid = torch.ones(B, K, P, dtype=torch.bool)
    valid[1, 2] = False  # a category without a visual prompt
    visual = VisualPrompts(
        F.normalize(torch.randn(B, K, P, D, generator=g), dim=-1),
        [torch.randn(B, K, P, c, generator=g) for c in STAGES], valid)
    sel = CategorySelection(
        torch.arange(K).expand(B, K), torch.ones(B, K, dtype=torch.bool))
    image = CLIPImageFeatures(torch.empty(0), torch.empty(0), inter)
    return HeadInputs(cost, image, sel, visual)


def _with_stage(inputs, level, seed=5):
    """A copy of inputs whose prompt features of one level are new."""
    g = torch.Generator().manual_seed(seed)
    vis = inputs.visual_prompts
    stages = list(vis.stage_embeds)
    stages[level] = torch.randn(stages[level].shape, generator=g)
    return replace(
        inputs, visual_prompts=VisualPrompts(vis.embeds, stages, vis.valid))


def test_forward_shape_and_gradients():
    head = _head()
    assert head.visual_stages == [0, 1, 2]
    inputs = _inputs()
    out = head(inputs)
    assert out.shape == (B, K, 8 * G, 8 * G)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    for n, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n


@pytest.mark.parametrize('levels,used', [('none', set()), ('one', {0}),
                                         ('three', {0, 1, 2})])
def test_visual_cost_levels_use_their_stages(levels, used):
    head = _head(visual_cost_levels=levels).eval()
    inputs = _inputs()
    with torch.no_grad():
        ref = head(inputs)
        for level in range(4):
            out = head(_with_stage(inputs, level))
            # level 0 = res2 feeds the last stage ('one' = F_v^2)
            assert torch.equal(out, ref) == (level not in used), level
        if levels == 'none':
            assert torch.equal(head(replace(inputs, visual_prompts=None)), ref)
    n_embed = len(head.visual_cost_embed)
    assert n_embed == len(used)


def test_category_without_prompt_gets_no_visual_cost():
    head = _head().eval()
    inputs = _inputs()
    with torch.no_grad():
        ref = head(inputs)
        out = head(_with_stage(inputs, 0))
    # image 1, category 2 has no prompt: its logits ignore the prompt
    # features (the class attention mixes categories, so compare a head
    # whose other categories see the same prompts: only category 2 of
    # image 1 changes its stage features)
    vis = inputs.visual_prompts
    stages = [s.clone() for s in vis.stage_embeds]
    for s in stages:
        s[1, 2] = torch.randn(s.shape[-2:])
    with torch.no_grad():
        same = head(
            replace(
                inputs,
                visual_prompts=VisualPrompts(vis.embeds, stages, vis.valid)))
    assert torch.equal(same, ref)
    assert not torch.equal(out, ref)


def test_upsample_cost_instead():
    head = _head(visual_cost_levels='none', upsample_cost_instead=True).eval()
    assert head.cost_up is not None and not head.visual_cost_embed
    inputs = _inputs()
    with torch.no_grad():
        ref = head(replace(inputs, visual_prompts=None))
        cost = inputs.cost
        other = CostFeatures(cost.cost_embed, -cost.cost_volume)
        assert not torch.equal(head(replace(inputs, cost=other)), ref)
    plain = _head(visual_cost_levels='none').eval()
    with torch.no_grad():
        assert torch.equal(plain(replace(inputs, cost=other)), plain(inputs))


def test_loss_and_check_inputs():
    head = _head()
    inputs = _inputs()
    batch = random_seg_batch(B, 16, K)
    losses = head.loss(inputs, batch['data_samples'], {})
    assert set(losses) == {'loss_bce', 'bce_baseline'}
    assert torch.isfinite(losses['loss_bce'])
    pyramid = CLIPFeatureSpec('backbone B', D, 'pyramid', (40, 80, 160, 320),
                              False)
    head.check_inputs(pyramid, CostFeatureSpec('neck N', 16, P), 'neck N')
    with pytest.raises(CompositionError, match='intermediate feature 2'):
        head.check_inputs(
            CLIPFeatureSpec('backbone B', D, 'pyramid', (40, 80, 8, 320),
                            False), CostFeatureSpec('neck N', 16, P), 'neck N')
    with pytest.raises(CompositionError, match='cost features'):
        head.check_inputs(pyramid, CostFeatureSpec('neck N', 16, P + 1),
                          'neck N')


def test_bad_arguments():
    with pytest.raises(ValueError, match='visual_cost_levels must be'):
        _head(visual_cost_levels='two')
    with pytest.raises(ValueError, match='replaces the visual costs'):
        _head(upsample_cost_instead=True)
    with pytest.raises(ValueError, match='visual_cost_dims needs 3'):
        _head(visual_cost_dims=(4, 2))
    head = _head()
    with pytest.raises(ValueError, match='needs the visual prompts'):
        head(replace(_inputs(), visual_prompts=None))
    inputs = _inputs()
    vis = inputs.visual_prompts
    bad = VisualPrompts(vis.embeds, [s[:, :, :1] for s in vis.stage_embeds],
                        vis.valid[:, :, :1])
    with pytest.raises(ValueError, match='prompt slots'):
        head(replace(inputs, visual_prompts=bad))
