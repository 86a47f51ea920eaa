"""projects/san_dcp: SAN + DCP-CLIP Tag Validation (tiny SAN)."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmseg.models.segmentors import MultimodalEncoderDecoder
from mmseg.registry import MODELS

from projects.san_dcp.san_dcp import (SANWithTagValidation, san_class_names,
                                      san_clip_embeds, san_text_embeds)

CONFIG = 'san_dcp/configs/san-vit-b16-tv_coco-stuff164k-640x640.py'
VOCAB = ['cat', 'dog', 'sky', 'tree', 'road']


def _build(build_tiny_san, **kwargs):
    """The project config on a tiny SAN; seen vocabulary VOCAB unless
    given (the config's ``train_dataset_name`` is cleared)."""
    args = dict(train_dataset_name=None, train_vocabulary=VOCAB)
    args.update(kwargs)
    return build_tiny_san(CONFIG, **args)


def test_build_and_train_one_iteration(build_tiny_san, tiny_batch,
                                       one_step_trains):
    model = _build(build_tiny_san)
    assert isinstance(model, SANWithTagValidation)
    assert type(model.post_processor).__name__ == 'DCPTagValidator'
    losses = one_step_trains(model, tiny_batch(model))
    assert 'decode.loss_cls_ce' in losses


def test_san_clip_embeds_shapes(build_tiny_san, tiny_batch):
    model = _build(build_tiny_san).eval()
    inputs = tiny_batch(model)['inputs']
    feats = model.image_encoder(model.clip_inputs(inputs))
    rec = model.decode_head.rec_with_attnbias
    cls_m, dense_m = san_clip_embeds(rec, feats[-1], 'maskclip')
    cls_p, dense_p = san_clip_embeds(rec, feats[-1], 'plain')
    assert cls_m.shape == (2, 16) and dense_m.shape == (2, 16, 4, 4)
    torch.testing.assert_close(cls_m, cls_p)  # same [CLS] path
    assert not torch.allclose(dense_m, dense_p)
    assert model.dense_embeds(inputs).shape == (2, 16, 4, 4)
    text = san_text_embeds(model.text_encoder)
    assert text.shape == (5, 16)
    torch.testing.assert_close(text.norm(dim=-1), torch.ones(5))
    assert san_class_names(model.text_encoder) == VOCAB


def test_predict_all_seen_equals_san(build_tiny_san, tiny_batch):
    model = _build(build_tiny_san).eval()
    data = tiny_batch(model)
    with torch.no_grad():
        out = model.predict(data['inputs'], data['data_samples'])
        san = MultimodalEncoderDecoder.predict(model, data['inputs'])
    assert len(out) == 2
    for ds, ref in zip(out, san):
        assert ds.seg_logits.data.shape == (5, 64, 64)
        assert ds.pred_sem_seg.data.shape == (1, 64, 64)
        assert ds.tv_relabelled == {}  # every category is seen
        assert torch.equal(ds.pred_sem_seg.data, ref.pred_sem_seg.data)


def test_predict_slide_mode(build_tiny_san, tiny_batch):
    model = _build(build_tiny_san).eval()
    model.test_cfg = ConfigDict(
        mode='slide', crop_size=(32, 32), stride=(32, 32))
    data = tiny_batch(model)
    with torch.no_grad():
        out = model.predict(data['inputs'], data['data_samples'])
        # the whole image resized to the crop, at encoder_resolution 0.5
        assert model.dense_embeds(data['inputs']).shape == (2, 16, 2, 2)
    assert out[1].pred_sem_seg.data.shape == (1, 64, 64)
    assert out[1].tv_relabelled == {}


def _hand_built(model, monkeypatch, dense_right: int):
    """SAN predicts 'cat' (0) on the left half, 'tree' (3) on the right;
    the dense CLIP embeddings of the right half equal the text embedding of
    category ``dense_right`` (left half: 'cat')."""
    text = san_text_embeds(model.text_encoder)  # (T, D)
    logits = torch.zeros(1, 5, 64, 64)
    logits[:, 0, :, :32] = 1.0
    logits[:, 3, :, 32:] = 1.0
    dense = torch.empty(1, 16, 4, 4)
    dense[..., :2] = text[0][:, None, None]
    dense[..., 2:] = text[dense_right][:, None, None]
    monkeypatch.setattr(model, 'inference', lambda inputs, metas: logits)
    monkeypatch.setattr(model, 'dense_embeds', lambda inputs: dense)
    return model.predict(torch.zeros(1, 3, 64, 64))[0]


@pytest.mark.parametrize('seen, dense_right, expected', [
    (['cat', 'dog', 'sky'], 4, {
        'tree': 'road'
    }),
    (['cat', 'dog', 'sky'], 3, {}),
    (['cat', 'dog', 'sky', 'tree'], 4, {}),
])
def test_tv_relabels_or_keeps(build_tiny_san, monkeypatch, seen, dense_right,
                              expected):
    """Unseen 'tree' whose CLIP region looks like 'road' (top_k=1) is
    relabelled; kept when CLIP agrees or when 'tree' is seen."""
    model = _build(
        build_tiny_san,
        train_vocabulary=seen,
        post_processor=dict(type='DCPTagValidator', top_k=1)).eval()
    ds = _hand_built(model, monkeypatch, dense_right)
    pred = ds.pred_sem_seg.data[0]  # (H, W)
    assert ds.tv_relabelled == expected
    assert (pred[:, :32] == 0).all()
    right = 4 if expected else 3
    assert (pred[:, 32:] == right).all()
    assert (ds.seg_logits.data.argmax(0)[:, 32:] == 3).all()  # SAN's own


def test_train_dataset_name_gives_seen_categories(build_tiny_san):
    model = _build(
        build_tiny_san,
        train_vocabulary=None,
        train_dataset_name='coco-stuff164k')
    assert len(model.train_vocabulary) == 171
    assert model.train_vocabulary[0] == 'person'


@pytest.mark.parametrize('kwargs, match', [
    (dict(post_processor=None), 'post_processor'),
    (dict(train_vocabulary=None), 'exactly one'),
    (dict(train_dataset_name='coco-stuff164k'), 'exactly one'),
    (dict(dense_mode='bogus'), 'dense_mode'),
])
def test_bad_arguments(build_tiny_san, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _build(build_tiny_san, **kwargs)


def test_san_clip_embeds_bad_input(build_tiny_san):
    model = _build(build_tiny_san)
    rec = model.decode_head.rec_with_attnbias
    with pytest.raises(ValueError, match='feature must be'):
        san_clip_embeds(rec, [torch.zeros(1, 32, 4, 4)])
    with pytest.raises(ValueError, match='dense_mode'):
        san_clip_embeds(rec, [torch.zeros(1, 32, 4, 4),
                              torch.zeros(1, 32)], 'nope')


def test_registered_name_is_unique():
    assert MODELS.get('SANWithTagValidation') is SANWithTagValidation
