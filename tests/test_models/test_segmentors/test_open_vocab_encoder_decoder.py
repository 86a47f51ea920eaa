import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from dcp_mm.structures import pad_selections
from dcp_mm.testing import random_seg_batch
from dcp_mm.testing import tiny_dcp_model_cfg as tiny_cfg

VOCAB = ['cat', 'dog', 'grass', 'sky', 'car']


def selection_of(model, inputs):
    """The selection of a forward (test vocabulary in eval mode)."""
    text = model.text_encoder(model.current_vocabulary())
    return model._head_inputs(inputs, text).selection


def batch(n=2, size=32, vocab=5):
    return random_seg_batch(n, size, vocab)


def test_train_step_gradients_and_loss():
    model = MODELS.build(tiny_cfg())
    model.train()
    data = model.data_preprocessor(batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_bce', 'num_selected', 'bce_baseline'}
    assert torch.isfinite(losses['loss_bce'])
    losses['loss_bce'].backward()
    trainable = [(n, p) for n, p in model.named_parameters()
                 if p.requires_grad]
    assert trainable, 'nothing to train'
    for name, p in trainable:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # CLIP attention q/v only, in both towers (CAT-Seg's fine-tuning)
    for tower in (model.backbone, model.text_encoder):
        names = [n for n, p in tower.named_parameters() if p.requires_grad]
        assert names and all('q_proj' in n or 'v_proj' in n for n in names)


@pytest.mark.parametrize('mode', ['whole', 'slide'])
def test_predict_full_vocabulary(mode):
    test_cfg = dict(mode='whole') if mode == 'whole' else dict(
        mode='slide', crop_size=(32, 32), stride=(16, 16), global_view=True)
    model = MODELS.build(tiny_cfg(test_cfg=test_cfg)).eval()
    model.set_vocabulary(VOCAB + ['zebra', 'boat'], 'test')
    data = model.data_preprocessor(batch(size=48), False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert len(out) == 2
    assert out[0].seg_logits.data.shape == (7, 48, 48)
    pred = out[0].pred_sem_seg.data
    assert pred.shape == (1, 48, 48) and pred.max() < 7
    assert isinstance(out[0].tv_relabelled, dict)
    # categories DCS dropped carry the fixed low logit (whole mode)
    if mode == 'whole':
        with torch.no_grad():
            sel = selection_of(model, data['inputs'])
        for i in range(2):
            kept = set(sel.indices[i][sel.valid[i]].tolist())
            dropped = (out[i].seg_logits.data == -100.0).flatten(1).all(1)
            assert set(torch.nonzero(~dropped).flatten().tolist()) == kept


def test_batched_prediction_equals_per_image():
    """DCS picks a different K per image; padding must not leak."""
    cfg = tiny_cfg(post_processor=None)
    cfg['selector'] = dict(type='DCPCategorySelector', tau=0.0, fixed_k=None)
    model = MODELS.build(cfg).eval()
    data = model.data_preprocessor(batch(), False)
    with torch.no_grad():
        both = model.inference(data['inputs'], None)
        for i in range(2):
            one = model.inference(data['inputs'][i:i + 1], None)
            torch.testing.assert_close(
                both[i:i + 1], one, atol=1e-4, rtol=1e-4)

    # a selector that keeps a different K per image, decided per image
    class BySign(torch.nn.Module):

        def forward(self, cls_embed, dense, text, gt=None):
            t = text.shape[0]
            # K_b from the image's own embedding: 1..t, varies per image
            ks = [1 + int(1e4 * c.abs().sum()) % t for c in cls_embed]
            sets = [c[:t].topk(k).indices for c, k in zip(cls_embed, ks)]
            return pad_selections(sets, cls_embed[:, :t])

    model.selector = BySign()
    with torch.no_grad():
        ks = selection_of(model, data['inputs']).num_selected
        both = model.inference(data['inputs'], None)
        for i in range(2):
            one = model.inference(data['inputs'][i:i + 1], None)
            torch.testing.assert_close(
                both[i:i + 1], one, atol=1e-4, rtol=1e-4)
    assert ks[0] != ks[1], ks


def test_vocabulary_errors_and_checkpoint_meta():
    cfg = tiny_cfg(train_vocabulary=None)
    model = MODELS.build(cfg)
    model.train()
    data = model.data_preprocessor(batch(), True)
    with pytest.raises(ValueError, match='no vocabulary'):
        model(**data, mode='loss')
    with pytest.raises(ValueError, match='duplicated'):
        model.set_vocabulary(['cat', 'cat'], 'train')
    model.set_vocabulary(['cat', 'dog'], 'train')
    with pytest.raises(ValueError, match=r'outside the training vocabulary'):
        model(**data, mode='loss')  # labels up to 4 with 2 categories
    # the seen vocabulary rides in the checkpoint meta, not the state dict
    from dcp_mm.engine.model_checkpoint import (MODEL_META_KEY,
                                                load_model_checkpoint,
                                                model_meta)
    state = model.state_dict()
    assert '_extra_state' not in state
    other = MODELS.build(cfg)
    load_model_checkpoint(
        other,
        dict(state_dict=state, meta={MODEL_META_KEY: model_meta(cfg, model)}))
    assert other.train_vocabulary == ['cat', 'dog']


def test_build_errors():
    with pytest.raises(ValueError, match='model.pretrained'):
        cfg = tiny_cfg()
        cfg['backbone'] = dict(cfg['backbone'], pretrained='openai')
        MODELS.build(cfg)
    with pytest.raises(ValueError, match='neck'):
        MODELS.build(tiny_cfg(neck=None))
    with pytest.raises(ValueError, match='train_cfg.negatives'):
        MODELS.build(tiny_cfg(train_cfg=dict(negatives=-2)))
    for key, value in (('mode', 'tiles'), ('selection', 'gt'),
                       ('output_logits', 'all')):
        cfg = copy.deepcopy(tiny_cfg(test_cfg={key: value}))
        with pytest.raises(ValueError, match=f'test_cfg.{key} must be'):
            MODELS.build(cfg)


@pytest.mark.parametrize('mode', ['whole', 'slide'])
def test_predict_records_selected_categories(mode):
    """metainfo selected_categories = the selector's choice (union over
    the sliding windows), and the non-selected categories carry
    ``unselected_logit`` everywhere."""
    test_cfg = dict(mode='whole') if mode == 'whole' else dict(
        mode='slide', crop_size=(32, 32), stride=(16, 16), global_view=False)
    model = MODELS.build(tiny_cfg(test_cfg=test_cfg)).eval()
    calls = []

    class FirstTwoThenLast(torch.nn.Module):
        """Selects {0, 1} at the first call, {T-1} at later calls."""

        def forward(self, cls_embed, dense, text, gt=None):
            t = text.shape[0]
            pick = [0, 1] if not calls else [t - 1]
            calls.append(pick)
            sets = [torch.tensor(pick) for _ in cls_embed]
            return pad_selections(sets, cls_embed.new_zeros(len(sets), t))

    model.selector = FirstTwoThenLast()
    data = model.data_preprocessor(
        batch(size=48 if mode == 'slide' else 32), False)
    with torch.no_grad():
        preds = model.predict(data['inputs'], data['data_samples'])
    expected = ['cat', 'dog'] if mode == 'whole' else ['cat', 'dog', 'car']
    if mode == 'slide':
        assert len(calls) == 4, calls  # 2 x 2 windows
    for p in preds:
        assert p.selected_categories == expected
    never = [2, 3] if mode == 'slide' else [2, 3, 4]
    for p in preds:
        unselected = p.seg_logits.data[never]  # (T-K, H, W)
        assert torch.all(unselected == model.unselected_logit)


def test_oracle_selection_adds_ground_truth_at_test_time():
    cfg = tiny_cfg(post_processor=None)
    cfg['selector'] = dict(type='DCPCategorySelector', fixed_k=1)
    model = MODELS.build(cfg).eval()
    data = model.data_preprocessor(batch(), False)
    gt = [
        set(ds.gt_sem_seg.data.unique().tolist()) - {255}
        for ds in data['data_samples']
    ]
    with torch.no_grad():
        plain = model.predict(data['inputs'], data['data_samples'])
        model.test_cfg.selection = 'oracle'
        oracle = model.predict(data['inputs'],
                               copy.deepcopy(data['data_samples']))
    for p, o, g in zip(plain, oracle, gt):
        assert len(p.selected_categories) == 1
        names = {VOCAB[i] for i in g}
        assert names <= set(o.selected_categories)
        assert set(o.selected_categories) == names | set(p.selected_categories)


def test_memory_follows_selected_categories():
    """Only the U selected channels are kept when T x H x W is large."""
    model = MODELS.build(
        tiny_cfg(
            post_processor=None,
            test_cfg=dict(mode='whole', max_full_logits=100))).eval()
    vocab = [f'name {i}' for i in range(40)]
    model.set_vocabulary(vocab, 'test')
    model.selector = MODELS.build(dict(type='DCPCategorySelector', fixed_k=3))
    data = model.data_preprocessor(batch(), False)
    with torch.no_grad():
        out = model.predict(data['inputs'], data['data_samples'])
        model.test_cfg.output_logits = 'full'
        full = model.predict(data['inputs'],
                             copy.deepcopy(data['data_samples']))
    for o, f in zip(out, full):
        cats = o.logit_categories
        assert 3 <= len(cats) <= 6 and o.seg_logits.data.shape[0] == len(cats)
        assert f.seg_logits.data.shape[0] == 40
        torch.testing.assert_close(o.seg_logits.data, f.seg_logits.data[cats])
        assert torch.equal(o.pred_sem_seg.data, f.pred_sem_seg.data)
        chosen = [vocab.index(n) for n in o.selected_categories]
        assert set(chosen) <= set(cats)


def test_one_name_vocabulary_predicts_labels():
    model = MODELS.build(tiny_cfg(post_processor=None)).eval()
    model.set_vocabulary(['cat'], 'test')
    data = model.data_preprocessor(batch(), False)
    with torch.no_grad():
        out = model.predict(data['inputs'], data['data_samples'])
    pred = out[0].pred_sem_seg.data
    assert pred.dtype == torch.long and torch.all(pred == 0)
    assert out[0].seg_logits.data.shape == (1, 32, 32)


class ShiftText(torch.nn.Module):
    """A text adapter that adds a learnable vector (tests the slot)."""

    def __init__(self, dims):
        super().__init__()
        self.shift = torch.nn.Parameter(torch.zeros(dims))
        self.calls = []

    def forward(self, text, dense):
        self.calls.append((tuple(text.shape), tuple(dense.shape)))
        return text + self.shift


class FeatureNormLoss(torch.nn.Module):
    """An aux loss on the image features (tests the slot)."""

    def __init__(self):
        super().__init__()
        self.bound = None

    def bind_backbone(self, backbone):
        self.bound = backbone

    def forward(self, inputs, feats):
        return dict(loss_norm=feats.dense_embeds.square().mean())


def test_text_adapter_and_aux_loss_slots():
    from mmseg.registry import MODELS as REG
    REG.register_module('TestShiftText', module=ShiftText, force=True)
    REG.register_module(
        'TestFeatureNormLoss', module=FeatureNormLoss, force=True)
    cfg = tiny_cfg(post_processor=None)
    cfg['text_adapter'] = dict(type='TestShiftText', dims=32)
    cfg['aux_losses'] = [dict(type='TestFeatureNormLoss')]
    model = MODELS.build(cfg)
    assert model.aux_losses[0].bound is model.backbone
    model.train()
    data = model.data_preprocessor(batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {
        'loss_bce', 'loss_norm', 'num_selected', 'bce_baseline'
    }
    (losses['loss_bce'] + losses['loss_norm']).backward()
    assert model.text_adapter.shift.grad is not None
    (b, k, p, d), dense = model.text_adapter.calls[-1]
    assert (b, p, d) == (2, 2, 32) and dense[:2] == (2, 32)


def test_window_resize_protocol_and_train_input_resize():
    """CAT-Seg ViT-L protocol in test_cfg keys: windows of ``crop_size``
    resized to ``window_resize`` before the model, global view resized
    twice; train_cfg ``input_resize`` squashes the training crops."""
    test_cfg = dict(
        mode='slide',
        crop_size=(48, 48),
        stride=(32, 32),
        window_resize=(32, 32),
        global_view=True)
    model = MODELS.build(
        tiny_cfg(test_cfg=test_cfg,
                 train_cfg=dict(input_resize=(24, 24)))).eval()
    model.set_vocabulary(VOCAB, 'test')
    seen = []
    model.backbone.register_forward_pre_hook(
        lambda m, args: seen.append(tuple(args[0].shape[-2:])))
    data = model.data_preprocessor(batch(size=80), False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert out[0].seg_logits.data.shape == (5, 80, 80)
    # 2 x 2 windows (starts 0 and 32) + the global view, all at 32 x 32
    assert seen == [(32, 32)] * 5
    seen.clear()
    model.train()
    data = model.data_preprocessor(batch(size=32), True)
    losses = model(**data, mode='loss')
    assert seen == [(24, 24)] and torch.isfinite(losses['loss_bce'])


def logits_at(model, view, size):
    """(B, T, *size) full-vocabulary logits of ``view``: the head's output
    resized once to ``size`` (test vocabulary)."""
    text = model.text_encoder(model.current_vocabulary())
    head_inputs = model._head_inputs(view, text)
    logits = F.interpolate(
        model.decode_head(head_inputs),
        size,
        mode='bilinear',
        align_corners=False)
    return head_inputs.selection.scatter(logits, text.shape[0],
                                         model.unselected_logit)


def test_slide_matches_catseg_fold_average():
    """The slide result equals CAT-Seg's inference_sliding_window: unfold
    windows, each resized to window_resize, logits to the window size,
    sigmoid, fold / count; global view logits to the window size, sigmoid,
    resized to the image; (windows + global) / 2."""
    test_cfg = dict(
        mode='slide',
        crop_size=(48, 48),
        stride=(32, 32),
        window_resize=(32, 32),
        global_view=True)
    model = MODELS.build(tiny_cfg(test_cfg=test_cfg)).eval()
    model.set_vocabulary(VOCAB, 'test')
    x = torch.randn(1, 3, 80, 80)
    with torch.no_grad():
        probs = model.inference(x, [{}]).sigmoid()
        unfold = nn.Unfold(kernel_size=48, stride=32)
        fold = nn.Fold((80, 80), kernel_size=48, stride=32)
        # (1, 3*48*48, L) -> (L, 3, 48, 48)
        crops = unfold(x)[0].t().reshape(-1, 3, 48, 48)
        outs = []
        for crop in crops:
            view = F.interpolate(
                crop[None], (32, 32), mode='bilinear', align_corners=False)
            outs.append(logits_at(model, view, (48, 48)).sigmoid())
        outs = torch.cat(outs)  # (L, T, 48, 48)
        ones = torch.ones(1, 1, 80, 80)
        # (L, T, 48, 48) -> (1, T*48*48, L) -> fold -> (1, T, 80, 80)
        win = fold(outs.flatten(1).t()[None]) / fold(unfold(ones))
        g = F.interpolate(
            F.interpolate(x, (48, 48), mode='bilinear', align_corners=False),
            (32, 32),
            mode='bilinear',
            align_corners=False)
        g = logits_at(model, g, (48, 48)).sigmoid()
        g = F.interpolate(g, (80, 80), mode='bilinear', align_corners=False)
        ref = (win + g) / 2
    torch.testing.assert_close(probs, ref, atol=1e-5, rtol=1e-5)


def test_oracle_selection_adds_ground_truth_categories():
    """test_cfg.selection='oracle': each image's GT categories are added
    to the selector's choice at test time; 'model' leaves it."""

    class OnlyFirst(torch.nn.Module):

        def forward(self, cls_embed, dense, text, gt=None):
            sets = [torch.tensor([0]) for _ in cls_embed]
            return pad_selections(
                sets, cls_embed.new_zeros(len(sets), text.shape[0]))

    model = MODELS.build(tiny_cfg(post_processor=None)).eval()
    model.selector = OnlyFirst()
    data = model.data_preprocessor(batch(), False)
    labels = [
        torch.zeros(1, 32, 32, dtype=torch.long) + 255,
        torch.full((1, 32, 32), 3)
    ]
    labels[0][:, :8] = 2
    for ds, lab in zip(data['data_samples'], labels):
        ds.gt_sem_seg.data = lab
    with torch.no_grad():
        plain = model.predict(data['inputs'], data['data_samples'])
        # predict fills the given samples: read before the next call
        assert [p.selected_categories for p in plain] == [['cat'], ['cat']]
        model.test_cfg['selection'] = 'oracle'
        oracle = model.predict(data['inputs'], data['data_samples'])
    assert [p.selected_categories for p in oracle] == [['cat', 'grass'],
                                                       ['cat', 'sky']]
    # the oracle category now has real logits, the others -100
    dropped = (oracle[1].seg_logits.data == -100.0).flatten(1).all(1)
    assert dropped.tolist() == [False, True, True, False, True]
    with pytest.raises(ValueError, match='needs the ground truth'):
        model.predict(data['inputs'])
    model.test_cfg['selection'] = 'gt'
    with pytest.raises(ValueError, match='test_cfg.selection must be'):
        model.predict(data['inputs'], data['data_samples'])


@pytest.mark.parametrize('negatives', [0, 2, 'all'])
def test_training_negatives_join_the_selection(negatives):
    """train_cfg.negatives adds vocabulary-wide negatives in training only:
    K grows by that many per image (all T with 'all'), the ground truth
    stays selected, and inference is unchanged."""
    model = MODELS.build(tiny_cfg(train_cfg=dict(negatives=negatives)))
    data = model.data_preprocessor(batch(), True)
    vocab = model.current_vocabulary()
    gt = model.gt_categories(data['data_samples'], len(vocab))
    text = model.text_encoder(vocab)
    model.eval()
    base = model._head_inputs(data['inputs'], text, gt).selection
    model.train()
    torch.manual_seed(0)
    sel = model._head_inputs(data['inputs'], text, gt).selection
    want = {
        0: base.num_selected,
        2: (base.num_selected + 2).clamp(max=5),
        'all': torch.full_like(base.num_selected, 5)
    }[negatives]
    # (base: eval with GT = the training selection without negatives)
    assert sel.num_selected.tolist() == want.tolist()
    for b, labels in enumerate(gt):
        assert set(labels.tolist()) <= set(sel.indices[b].tolist())
    losses = model(**data, mode='loss')
    losses['loss_bce'].backward()
    assert torch.isfinite(losses['loss_bce'])
    model.eval()  # no negatives at test time: the selector's choice only
    plain = model._head_inputs(data['inputs'], text).selection
    assert (plain.num_selected <= base.num_selected).all()
    if negatives == 'all':
        assert (plain.num_selected < 5).any(), 'selector kept everything'
