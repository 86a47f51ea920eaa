import copy

import pytest
import torch
from mmseg.registry import MODELS

from dcp_mm.models.selectors import pad_selections
from dcp_mm.testing import random_seg_batch
from dcp_mm.testing import tiny_dcp_model_cfg as tiny_cfg

VOCAB = ['cat', 'dog', 'grass', 'sky', 'car']


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
    # frozen text tower, CLIP attention q/v only
    assert not any(p.requires_grad for p in model.text_encoder.parameters())
    assert all('q_proj' in n or 'v_proj' in n
               for n, p in model.backbone.named_parameters()
               if p.requires_grad)


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
            sel = model._decode(data['inputs'])[0]['selection']
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
        ks = model._decode(data['inputs'])[0]['selection'].num_selected
        both = model.inference(data['inputs'], None)
        for i in range(2):
            one = model.inference(data['inputs'][i:i + 1], None)
            torch.testing.assert_close(
                both[i:i + 1], one, atol=1e-4, rtol=1e-4)
    assert ks[0] != ks[1], ks


def test_vocabulary_errors_and_extra_state():
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
    state = model.state_dict()
    other = MODELS.build(cfg)
    other.load_state_dict(state)
    assert other.train_vocabulary == ['cat', 'dog']


def test_build_errors():
    with pytest.raises(ValueError, match='model.pretrained'):
        cfg = tiny_cfg()
        cfg['backbone'] = dict(cfg['backbone'], pretrained='openai')
        MODELS.build(cfg)
    with pytest.raises(ValueError, match='neck'):
        MODELS.build(tiny_cfg(neck=None))
    cfg = copy.deepcopy(tiny_cfg(test_cfg=dict(mode='tiles')))
    model = MODELS.build(cfg).eval()
    with pytest.raises(ValueError, match='test_cfg.mode'):
        model.inference(torch.zeros(1, 3, 32, 32), None)


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
    if mode == 'whole':
        unselected = preds[0].seg_logits.data[2:]  # (T-2, H, W)
        assert torch.all(unselected == model.unselected_logit)


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
    assert model._oracle_gt is None  # not kept after predict
    # the oracle category now has real logits, the others -100
    dropped = (oracle[1].seg_logits.data == -100.0).flatten(1).all(1)
    assert dropped.tolist() == [False, True, True, False, True]
    with pytest.raises(ValueError, match='needs the ground truth'):
        model.predict(data['inputs'])
    model.test_cfg['selection'] = 'gt'
    with pytest.raises(ValueError, match="'model' or 'oracle'"):
        model.predict(data['inputs'], data['data_samples'])
