import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample
from PIL import Image

from dcp_mm.datasets import PascalVOC20bDataset
from dcp_mm.evaluation import OVIoUMetric


def _sample(pred, gt, logits_channels=None, name='img_0'):
    """A model output as the evaluator hands it to metrics (a dict)."""
    ds = SegDataSample()
    ds.pred_sem_seg = PixelData(data=torch.as_tensor(pred)[None])
    ds.gt_sem_seg = PixelData(data=torch.as_tensor(gt)[None])
    if logits_channels is not None:
        h, w = np.asarray(pred).shape
        ds.seg_logits = PixelData(data=torch.zeros(logits_channels, h, w))
    ds.set_metainfo(
        dict(img_path=f'/data/{name}.jpg', seg_map_path=f'/data/{name}.png'))
    return ds.to_dict()


def _run(metric, meta, pairs):
    metric.dataset_meta = meta
    metric.results.clear()
    metric.process({}, [_sample(p, g) for p, g in pairs])
    return metric.compute_metrics(metric.results)


def _detectron2_reference(preds, gts, num_classes, ignore):
    """detectron2 SemSegEvaluator.process/evaluate (mIoU, mACC, pACC),
    rewritten from facebookresearch/detectron2
    detectron2/evaluation/sem_seg_evaluation.py."""
    n = num_classes
    conf = np.zeros((n + 1, n + 1), dtype=np.int64)
    for pred, gt in zip(preds, gts):
        gt = np.array(gt, dtype=np.int64)
        gt[gt == ignore] = n
        conf += np.bincount(
            (n + 1) * np.asarray(pred).reshape(-1) + gt.reshape(-1),
            minlength=conf.size).reshape(conf.shape)
    tp = conf.diagonal()[:-1].astype(float)
    pos_gt = conf[:-1, :-1].sum(0).astype(float)
    pos_pred = conf[:-1, :-1].sum(1).astype(float)
    acc_valid = pos_gt > 0
    union = pos_gt + pos_pred - tp
    iou_valid = acc_valid & (union > 0)
    miou = (tp[iou_valid] / union[iou_valid]).mean()
    macc = (tp[acc_valid] / pos_gt[acc_valid]).mean()
    return 100 * miou, 100 * macc, 100 * tp.sum() / pos_gt.sum()


META3 = dict(classes=('a', 'b', 'c'))
# class c is predicted once but absent from the GT
PRED = [[0, 2], [1, 1]]
GT = [[0, 0], [1, 1]]


def test_build_from_registry():
    metric = METRICS.build(
        dict(type='OVIoUMetric', absent_classes='detectron2'))
    assert isinstance(metric, OVIoUMetric)
    assert metric.absent_classes == 'detectron2'


def test_hand_computed_conventions_differ():
    # IoU_a = 1/2, IoU_b = 2/2, IoU_c = 0/1 (predicted, no GT pixel)
    res = _run(OVIoUMetric(), META3, [(PRED, GT)])
    assert res['mIoU'] == pytest.approx(100 * (0.5 + 1 + 0) / 3, abs=0.01)
    assert res['aAcc'] == pytest.approx(75.0)
    assert res['mAcc'] == pytest.approx(75.0)  # c: NaN accuracy, skipped
    res = _run(OVIoUMetric(absent_classes='detectron2'), META3, [(PRED, GT)])
    assert res['mIoU'] == pytest.approx(75.0)  # mean over a and b only
    assert res['aAcc'] == pytest.approx(75.0)
    assert res['mAcc'] == pytest.approx(75.0)


def test_no_difference_without_absent_predictions():
    pred, gt = [[0, 1], [1, 1]], [[0, 0], [1, 1]]
    a = _run(OVIoUMetric(), META3, [(pred, gt)])
    b = _run(OVIoUMetric(absent_classes='detectron2'), META3, [(pred, gt)])
    assert a == b
    assert a['mIoU'] == pytest.approx(100 * (0.5 + 2 / 3) / 2, abs=0.01)


def test_detectron2_mode_matches_reference_evaluator():
    rng = np.random.default_rng(0)
    num_classes, ignore = 7, 255
    preds = [rng.integers(0, num_classes, (9, 11)) for _ in range(3)]
    gts = []
    for _ in range(3):
        gt = rng.integers(0, 4, (9, 11))  # classes 4..6 never in the GT
        gt[rng.random((9, 11)) < 0.2] = ignore
        gts.append(gt)
    meta = dict(classes=tuple('abcdefg'))
    res = _run(OVIoUMetric(absent_classes='detectron2'), meta, zip(preds, gts))
    miou, macc, pacc = _detectron2_reference(preds, gts, num_classes, ignore)
    assert res['mIoU'] == pytest.approx(miou, abs=0.006)
    assert res['mAcc'] == pytest.approx(macc, abs=0.006)
    assert res['aAcc'] == pytest.approx(pacc, abs=0.006)
    mmseg = _run(OVIoUMetric(), meta, zip(preds, gts))
    assert mmseg['mIoU'] < res['mIoU']  # 3 extra zeros in mmseg's mean


def test_ignore_index_65535_from_metainfo():
    meta = dict(classes=('a', 'b'), ignore_index=65535)
    pred = [[0, 1, 1], [0, 0, 1]]
    gt = [[0, 65535, 1], [65535, 0, 1]]
    metric = OVIoUMetric()
    res = _run(metric, meta, [(pred, gt)])
    assert metric.resolved_ignore_index() == 65535
    # ignored pixels (even mispredicted) drop out: all 4 others correct
    assert res['mIoU'] == pytest.approx(100.0)
    assert res['aAcc'] == pytest.approx(100.0)
    # an explicit argument wins: 65535 is then an out-of-range label
    with pytest.raises(ValueError, match='65535'):
        _run(OVIoUMetric(ignore_index=255), meta, [(pred, gt)])


def test_voc20b_prediction_remap():
    meta = PascalVOC20bDataset.METAINFO
    # GT: 0 = aeroplane, 20 = background (after the dataset's label_map)
    gt = [[0, 0, 20, 20], [20, 20, 255, 19]]
    # predictions 25 ('bed') and 58 ('wood') are background stand-ins
    pred = [[0, 25, 25, 58], [20, 3, 0, 19]]
    metric = OVIoUMetric(absent_classes='detectron2')
    res = _run(metric, meta, [(pred, gt)])
    assert len(metric.eval_classes()) == 21
    # aeroplane: I=1, U=|{(0,0),(0,1)}|=2 -> 1/2
    # background: GT 4 px, pred->bg at (0,1),(0,2),(0,3),(1,0) -> I=3,
    #   U = 4 + 4 - 3 = 5 -> 3/5; tvmonitor (19): 1/1
    # 'boat' (3) predicted once, no GT: excluded (detectron2)
    assert res['mIoU'] == pytest.approx(100 * (0.5 + 0.6 + 1.0) / 3, abs=0.01)
    res = _run(OVIoUMetric(), meta, [(pred, gt)])
    assert res['mIoU'] == pytest.approx(
        100 * (0.5 + 0.6 + 1.0 + 0.0) / 4, abs=0.01)


def test_bad_pred_remap_metainfo():
    meta = dict(
        classes=('a', 'b', 'c'), eval_classes=('a', 'bg'), pred_remap=(0, 1))
    with pytest.raises(ValueError, match='one per class'):
        _run(OVIoUMetric(), meta, [(PRED, GT)])
    meta['pred_remap'] = (0, 1, 2)
    with pytest.raises(ValueError, match=r'\[0, 2\)'):
        _run(OVIoUMetric(), meta, [(PRED, GT)])


def test_out_of_range_label_names_the_file():
    metric = OVIoUMetric()
    metric.dataset_meta = META3
    with pytest.raises(ValueError, match=r'/data/bad\.png.*\[3, 7\]'):
        metric.process({}, [_sample([[0, 1]], [[3, 7]], name='bad')])


def test_prediction_with_more_classes_than_metainfo():
    metric = OVIoUMetric()
    metric.dataset_meta = META3
    with pytest.raises(ValueError, match='4 class channels'):
        metric.process({}, [_sample([[0, 1]], [[0, 1]], logits_channels=4)])
    with pytest.raises(ValueError, match='predicted class index 5'):
        metric.process({}, [_sample([[0, 5]], [[0, 1]])])
    with pytest.raises(ValueError, match='differ in size'):
        metric.process({}, [_sample(np.zeros((2, 3)), np.zeros((3, 2)))])
    with pytest.raises(ValueError, match='classes'):
        OVIoUMetric().process({}, [_sample([[0]], [[0]])])


@pytest.mark.parametrize('kwargs', [
    dict(absent_classes='paper'),
    dict(absent_classes='detectron2', nan_to_num=0),
    dict(iou_metrics=['mAP']),
    dict(ignore_index=-1),
])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        OVIoUMetric(**kwargs)


def test_through_mmengine_evaluator(tmp_path):
    evaluator = Evaluator(
        dict(
            type='OVIoUMetric',
            absent_classes='detectron2',
            output_dir=str(tmp_path)))
    evaluator.dataset_meta = dict(
        classes=tuple(f'c{i}' for i in range(300)), ignore_index=65535)
    ds = SegDataSample()
    ds.pred_sem_seg = PixelData(data=torch.tensor([[[299, 1], [1, 7]]]))
    ds.gt_sem_seg = PixelData(data=torch.tensor([[[299, 1], [65535, 1]]]))
    ds.set_metainfo(dict(img_path='/x/img.jpg', seg_map_path='/x/img.tif'))
    evaluator.process([ds])
    res = evaluator.evaluate(1)
    # 299: 1/1, 1: I=1, U=2 -> 1/2 (class 7 has no GT: excluded)
    assert res['mIoU'] == pytest.approx(75.0)
    saved = np.array(Image.open(tmp_path / 'img.png'))
    assert saved.dtype == np.uint16 and saved[0, 0] == 299
