import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS


def setup_case():
    """4 categories on orthogonal text axes; 0, 1 seen, 2, 3 unseen.

    Left half of a 2x4 patch grid looks like category 3, right half like
    category 1. The prediction says 2 (unseen) on the left and 3 (unseen)
    on the right.
    """
    text = torch.eye(4)
    dense = torch.zeros(1, 4, 2, 4)
    dense[0, 3, :, :2] = 1.0
    dense[0, 1, :, 2:] = 1.0
    pred = torch.zeros(1, 8, 16, dtype=torch.long)
    pred[:, :, :8] = 2
    pred[:, :, 8:] = 3
    seen = torch.tensor([True, True, False, False])
    return pred, dense, text, seen


def test_relabels_and_keeps():
    pred, dense, text, seen = setup_case()
    tv = MODELS.build(dict(type='DCPTagValidator', top_k=1))
    new, relabel = tv(pred, dense, text, seen)
    # region "2" pools to the category-3 direction: 2 not in top-1 -> 3
    assert (new[:, :, :8] == 3).all()
    # region "3" pools to category 1: relabelled to 1
    assert (new[:, :, 8:] == 1).all()
    assert relabel.tolist() == [[-1, -1, 3, 1]]
    # with top_k = 4 every category is in the top-k: nothing changes
    tv4 = MODELS.build(dict(type='DCPTagValidator', top_k=4))
    new4, relabel4 = tv4(pred, dense, text, seen)
    assert torch.equal(new4, pred) and (relabel4 == -1).all()


def test_seen_categories_are_kept_and_slow_pooling():
    pred, dense, text, _ = setup_case()
    seen = torch.ones(4, dtype=torch.bool)
    tv = MODELS.build(dict(type='DCPTagValidator', top_k=1))
    new, _ = tv(pred, dense, text, seen)
    assert torch.equal(new, pred)
    # the pooled embedding of a region equals the mean over its patches
    dense = torch.randn(1, 4, 2, 4)
    pred = torch.full((1, 8, 16), 2)
    pred[:, :4, :] = 0
    seen = torch.tensor([True, True, False, False])
    new, relabel = MODELS.build(dict(type='DCPTagValidator',
                                     top_k=1))(pred, dense, text, seen)
    pooled = F.normalize(dense[0, :, 1].mean(-1), dim=0)
    top1 = int((pooled @ text.t()).argmax())
    expected = -1 if top1 == 2 else top1
    assert relabel[0, 2].item() == expected


def test_bad_arguments():
    with pytest.raises(ValueError, match='top_k'):
        MODELS.build(dict(type='DCPTagValidator', top_k=0))
    pred, dense, text, seen = setup_case()
    tv = MODELS.build(dict(type='DCPTagValidator'))
    assert len(list(tv.parameters())) == 0
    with pytest.raises(ValueError, match='seen'):
        tv(pred, dense, text, seen[:3])


def test_validate_samples_sets_predictions_and_metainfo():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    pred, dense, text, seen = setup_case()
    tv = MODELS.build(dict(type='DCPTagValidator', top_k=1))
    sample = SegDataSample()
    sample.pred_sem_seg = PixelData(data=pred.clone())
    names = ['sky', 'road', 'tree', 'car']
    out = tv.validate_samples([sample], dense, text, seen, names)
    assert out[0] is sample
    assert (sample.pred_sem_seg.data[:, :, :8] == 3).all()
    assert sample.tv_relabelled == {'tree': 'car', 'car': 'road'}
    with pytest.raises(ValueError, match='3 category names for 4'):
        tv.validate_samples([sample], dense, text, seen, names[:3])
