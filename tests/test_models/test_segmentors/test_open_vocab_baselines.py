"""Tiny CAT-Seg and SED models through OpenVocabEncoderDecoder."""
import copy

import pytest
import torch
from mmseg.registry import MODELS

from dcp_mm.testing import (TINY_HEADS, TINY_NECKS, random_seg_batch,
                            tiny_preprocessor)

VOCAB = ['cat', 'dog', 'grass', 'sky', 'car']
PREPROCESSOR = tiny_preprocessor(64)


def catseg_cfg(**overrides):
    cfg = dict(
        type='OpenVocabEncoderDecoder',
        data_preprocessor=PREPROCESSOR,
        pretrained=None,
        backbone=dict(
            type='CLIPViTBackbone',
            model_name='dcp-tiny',
            out_indices=(2, 3),
            finetune='attention'),
        text_encoder=dict(
            type='OpenCLIPTextEncoder',
            model_name='dcp-tiny',
            templates='single',
            synonyms='first',
            finetune='attention'),
        selector=dict(type='CATSegClassPruning', max_categories=4),
        neck=copy.deepcopy(TINY_NECKS['CAT-Seg aggregation']),
        decode_head=copy.deepcopy(TINY_HEADS['CAT-Seg upsampling']),
        train_vocabulary=VOCAB,
        test_cfg=dict(mode='whole'))
    cfg.update(overrides)
    return cfg


def sed_cfg(**overrides):
    cfg = dict(
        type='OpenVocabEncoderDecoder',
        data_preprocessor=PREPROCESSOR,
        pretrained=None,
        backbone=dict(
            type='CLIPConvNeXtBackbone',
            model_name='dcp-tiny-convnext',
            finetune='full'),
        text_encoder=dict(
            type='OpenCLIPTextEncoder',
            model_name='dcp-tiny-convnext',
            templates=['a photo of a {}.', 'a {} in the scene.'],
            synonyms='average',
            finetune='frozen'),
        neck=dict(
            type='DCPTextGuidedAlignNeck',
            cost_dims=16,
            with_ca=False,
            with_sa=False),
        decode_head=copy.deepcopy(TINY_HEADS['SED gradual fusion + CER']),
        train_vocabulary=VOCAB,
        test_cfg=dict(mode='whole', crop_size=(64, 64)))
    cfg.update(overrides)
    return cfg


def batch(n=2, size=64):
    return random_seg_batch(n, size, len(VOCAB))


def train_one_step(model):
    model.train()
    data = model.data_preprocessor(batch(), True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    before = {n: p.detach().clone() for n, p in trainable.items()}
    opt = torch.optim.SGD(trainable.values(), lr=0.1)
    opt.zero_grad()
    total.backward()
    opt.step()
    changed = [
        n for n, p in trainable.items() if not torch.equal(p, before[n])
    ]
    return losses, trainable, changed


def test_catseg_trains_one_step_and_predicts():
    model = MODELS.build(catseg_cfg())
    losses, trainable, changed = train_one_step(model)
    assert set(losses) == {'loss_bce', 'num_selected', 'bce_baseline'}
    assert losses['num_selected'] == 4  # T = 5 pruned to 4
    # CAT-Seg fine-tunes q/v of both CLIP towers
    assert any(n.startswith('text_encoder') for n in trainable)
    assert all('q_proj' in n or 'v_proj' in n for n in trainable
               if n.startswith(('backbone', 'text_encoder')))
    no_grad = [n for n, p in trainable.items() if p.grad is None]
    # the last block's q is unused by the value-path dense features and the
    # [CLS] embedding only feeds the (gradient-free) pruning, as official
    assert no_grad == [
        'backbone.visual.transformer.resblocks.3.attn.'
        'q_proj_weight'
    ], no_grad
    assert 'decode_head.conv_seg.weight' in changed
    assert any(n.startswith('backbone') for n in changed)
    assert any(n.startswith('text_encoder') for n in changed)
    model.eval()
    data = model.data_preprocessor(batch(size=48), False)
    with torch.no_grad():
        out = model(**data, mode='predict')
        text = model.text_encoder(model.current_vocabulary())
        sel = model._head_inputs(data['inputs'], text).selection
    assert out[0].seg_logits.data.shape == (5, 48, 48)
    for i in range(2):
        dropped = (out[i].seg_logits.data == -100.0).flatten(1).all(1)
        kept = set(sel.indices[i].tolist())
        assert set(torch.nonzero(~dropped).flatten().tolist()) == kept


def test_sed_trains_one_step_and_predicts_with_cer():
    model = MODELS.build(sed_cfg())
    losses, trainable, changed = train_one_step(model)
    assert set(losses) == {
        'loss_bce', 'loss_aux0', 'loss_aux1', 'loss_aux2', 'num_selected',
        'bce_baseline'
    }
    assert not any(n.startswith('text_encoder') for n in trainable)
    assert any(n.startswith('backbone.visual.trunk') for n in trainable)
    for n, p in trainable.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
    assert 'decode_head.conv_seg.weight' in changed
    assert 'decode_head.aux_heads.0.weight' in changed
    assert any(n.startswith('backbone') for n in changed)
    model.eval()
    data = model.data_preprocessor(batch(), False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    logits = out[0].seg_logits.data
    assert logits.shape == (5, 64, 64) and torch.isfinite(logits).all()
    assert out[0].pred_sem_seg.data.max() < 5


@pytest.mark.parametrize('which', ['catseg', 'sed'])
def test_batched_inference_equals_per_image(which):
    model = MODELS.build(catseg_cfg() if which == 'catseg' else sed_cfg())
    model.eval()
    data = model.data_preprocessor(batch(), False)
    with torch.no_grad():
        both = model.inference(data['inputs'], None)
        for i in range(2):
            one = model.inference(data['inputs'][i:i + 1], None)
            torch.testing.assert_close(
                both[i:i + 1], one, atol=1e-4, rtol=1e-4)
