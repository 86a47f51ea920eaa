"""DPSegEncoderDecoder on the tiny ConvNeXt CLIP: build (frozen prompt
encoder, injected sizes), training step with gradients, two-round predict
with refinement, the visual prompts reach neck and head, errors."""
import copy

import mmcv
import numpy as np
import pytest
import torch
from mmseg.registry import MODELS

from dcp_mm.testing import (TINY_BACKBONES, TINY_SELECTORS, TINY_TEMPLATES,
                            TINY_VOCABULARY, random_seg_batch,
                            tiny_preprocessor)


@pytest.fixture
def prompt_root(tmp_path):
    rng = np.random.default_rng(0)
    for name in ('cat', 'dog', 'grass'):  # 'sky', 'car': text only
        (tmp_path / name).mkdir()
        for i in range(2):
            mmcv.imwrite(
                rng.integers(0, 255, (24, 30, 3), dtype=np.uint8),
                str(tmp_path / name / f'{i}.png'))
    return tmp_path


def _cfg(root, **overrides):
    cfg = dict(
        type='DPSegEncoderDecoder',
        data_preprocessor=tiny_preprocessor(64),
        pretrained=None,
        backbone=copy.deepcopy(TINY_BACKBONES['ConvNeXt']),
        text_encoder=dict(
            type='OpenCLIPTextEncoder',
            model_name='dcp-tiny-convnext',
            templates=list(TINY_TEMPLATES)),
        selector=None,
        neck=dict(
            type='DCPTextGuidedAlignNeck',
            cost_dims=16,
            with_ca=False,
            with_sa=False,
            fusion='avg_embed'),
        decode_head=dict(
            type='DPSegCostGuidedHead',
            in_channels=16,
            channels=4,
            decoder_dims=(8, 8, 4),
            guidance_dims=(4, 2, 2),
            visual_cost_dims=(4, 2, 2),
            num_heads=2),
        visual_prompt_bank=dict(
            type='VisualPromptBank',
            num_prompts=3,
            image_size=(64, 64),
            source=dict(type='ImageFolderPromptSource', root=str(root))),
        prompt_refiner=dict(type='DPSegPromptRefiner', min_area=16),
        train_vocabulary=list(TINY_VOCABULARY),
        test_cfg=dict(mode='whole'))
    cfg.update(overrides)
    return cfg


def _build(root, **overrides):
    torch.manual_seed(0)
    return MODELS.build(_cfg(root, **overrides))


def test_build_injects_sizes_and_freezes_the_prompt_encoder(prompt_root):
    model = _build(
        prompt_root,
        neck=dict(_cfg(prompt_root)['neck'], fusion='concat_cost'))
    bank = model.visual_prompt_bank
    assert type(bank.encoder) is type(model.backbone)
    assert bank.encoder.model_name == model.backbone.model_name
    assert not any(p.requires_grad for p in bank.parameters())
    assert model.decode_head.num_templates == 4  # 2P for concat_cost
    assert model.decode_head.num_prompt_slots == 3  # the bank's M


@pytest.mark.parametrize('selector', ['none', 'DCS'])
def test_training_step_gradients(prompt_root, selector):
    model = _build(prompt_root, selector=TINY_SELECTORS[selector])
    model.train()
    data = model.data_preprocessor(random_seg_batch(2, 64, 5), True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_bce'])
    losses['loss_bce'].backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith('visual_prompt_bank') for n in trainable)
    no_grad = {n for n, p in trainable.items() if p.grad is None}
    assert not no_grad, no_grad
    for n, p in trainable.items():
        assert torch.isfinite(p.grad).all(), n


def test_visual_prompts_change_the_prediction(prompt_root, tmp_path_factory):
    model = _build(prompt_root, prompt_refiner=None).eval()
    data = model.data_preprocessor(random_seg_batch(2, 64, 5), False)
    with torch.no_grad():
        ref = model(**data, mode='tensor')
        other = tmp_path_factory.mktemp('other')
        mmcv.imwrite(
            np.zeros((8, 8, 3), np.uint8), str(other / 'cat' / '0.png'))
        model.visual_prompt_bank.source.root = str(other)
        out = model(**data, mode='tensor')
    assert not torch.allclose(out, ref)


def test_predict_runs_two_rounds_with_refined_prompts(prompt_root):
    model = _build(prompt_root).eval()
    calls = []
    head_inputs = model._head_inputs

    def counting(inputs, text, gt=None):
        calls.append(model._prompt_override)
        return head_inputs(inputs, text, gt)

    model._head_inputs = counting
    data = model.data_preprocessor(random_seg_batch(2, 64, 5), False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert len(calls) == 2
    assert calls[0] is None and calls[1] is not None
    refined = calls[1]
    assert refined.valid.shape == (2, 5, 3)
    assert model._prompt_override is None  # reset after predict
    assert out[0].seg_logits.data.shape == (5, 64, 64)
    names = [ds.metainfo['dpseg_refined'] for ds in out]
    assert any(names) and all(set(n) <= set(TINY_VOCABULARY) for n in names)
    # the second round used the crops: a refined category has a prompt
    vocab = list(TINY_VOCABULARY)
    for b, n in enumerate(names):
        for name in n:
            assert refined.valid[b, vocab.index(name)].all()

    model.prompt_refiner = None
    calls.clear()
    data = model.data_preprocessor(random_seg_batch(2, 64, 5), False)
    with torch.no_grad():
        one = model(**data, mode='predict')
    assert len(calls) == 1 and 'dpseg_refined' not in one[0]


def test_bad_parts(prompt_root):
    model = _build(prompt_root)
    model.neck.fusion = None  # a neck without the option
    with pytest.raises(ValueError, match='needs a neck with a fusion'):
        model._check_dpseg_parts()
    with pytest.raises(ValueError, match='differs from the text encoder'):
        _build(
            prompt_root,
            visual_prompt_bank=dict(
                _cfg(prompt_root)['visual_prompt_bank'],
                encoder=dict(
                    type='CLIPConvNeXtBackbone',
                    model_name='convnext_base_w_320')))
