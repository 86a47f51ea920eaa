"""A one-name vocabulary (``--vocabulary cat``) works, TV included (issue 9,
case 6: IndexError in the tag validator; without TV a float map of zeros
from mmseg's binary threshold for one channel)."""
import pytest
import torch
from mmseg.registry import MODELS

from dcp_mm.testing import random_seg_batch, tiny_dcp_model_cfg


@pytest.mark.parametrize('tv', [True, False])
def test_one_name_vocabulary_predicts_integer_labels(tv):
    cfg = tiny_dcp_model_cfg()
    if not tv:
        cfg['post_processor'] = None
    model = MODELS.build(cfg).eval()
    model.set_vocabulary(['cat'], 'test')  # 'cat' is seen (trained)
    batch = model.data_preprocessor(random_seg_batch(2, 32), False)
    with torch.no_grad():
        results = model.predict(batch['inputs'], batch['data_samples'])
    for ds in results:
        pred = ds.pred_sem_seg.data
        assert pred.dtype == torch.long and pred.shape == (1, 32, 32)
        assert (pred == 0).all()  # the only category
        assert ds.seg_logits.data.shape == (1, 32, 32)
        if tv:
            assert ds.tv_relabelled == {}


def test_one_unseen_name_with_tv():
    model = MODELS.build(tiny_dcp_model_cfg()).eval()
    model.set_vocabulary(['zebra'], 'test')  # unseen: TV validates it
    batch = model.data_preprocessor(random_seg_batch(1, 32), False)
    with torch.no_grad():
        ds = model.predict(batch['inputs'], batch['data_samples'])[0]
    # one category: TV's top-k always contains it, nothing is relabelled
    assert ds.tv_relabelled == {}
    assert (ds.pred_sem_seg.data == 0).all()
