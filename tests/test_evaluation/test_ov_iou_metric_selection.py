"""Selection diagnostics of OVIoUMetric (mean K, category / pixel recall)."""
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import dcp_mm.evaluation.ov_iou_metric as metric_module
from dcp_mm.datasets import PascalVOC20bDataset
from dcp_mm.evaluation import OVIoUMetric

META3 = dict(classes=('a', 'b', 'c'))


def _sample(pred, gt, selected=None, name='img'):
    ds = SegDataSample()
    ds.pred_sem_seg = PixelData(data=torch.as_tensor(pred)[None])
    ds.gt_sem_seg = PixelData(data=torch.as_tensor(gt)[None])
    meta = dict(img_path=f'/d/{name}.jpg', seg_map_path=f'/d/{name}.png')
    if selected is not None:
        meta['selected_categories'] = list(selected)
    ds.set_metainfo(meta)
    return ds.to_dict()


def _run(samples, meta=META3, metric=None):
    metric = metric or OVIoUMetric()
    metric.dataset_meta = meta
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_hand_computed_recalls():
    # image 1: GT {a: 2 px, b: 1 px} (+1 ignored), selected {a}
    #   -> K 1, category recall 1/2, pixels 2 of 3
    # image 2: GT {c: 3 px, b: 1 px}, selected {b, c, a}
    #   -> K 3, category recall 2/2, pixels 4 of 4
    samples = [
        _sample([[0, 0], [0, 0]], [[0, 0], [1, 255]], ['a'], 'i1'),
        _sample([[2, 2], [2, 1]], [[2, 2], [2, 1]], ['b', 'c', 'a'], 'i2'),
    ]
    res = _run(samples)
    assert res['meanK'] == pytest.approx(2.0)
    assert res['catRecall'] == pytest.approx(100 * (0.5 + 1.0) / 2)
    assert res['pixRecall'] == pytest.approx(100 * 6 / 7, abs=0.01)
    # the bound: no right pixel can be outside the selection
    assert res['aAcc'] <= res['pixRecall']


def test_image_without_labelled_pixels_leaves_category_recall():
    samples = [
        _sample([[0]], [[255]], ['a', 'b'], 'empty'),
        _sample([[1]], [[1]], ['b'], 'full'),
    ]
    res = _run(samples)
    assert res['meanK'] == pytest.approx(1.5)
    assert res['catRecall'] == pytest.approx(100.0)  # only image 2 counts
    assert res['pixRecall'] == pytest.approx(100.0)


def test_no_selection_metainfo_no_diagnostics():
    res = _run([_sample([[0, 1]], [[0, 1]])])
    assert set(res) == {'aAcc', 'mIoU', 'mAcc'}
    # mixed: only the samples that name their selection count
    res = _run(
        [_sample([[0, 1]], [[0, 1]]),
         _sample([[0, 1]], [[0, 1]], ['a'], 'x')])
    assert res['pixRecall'] == pytest.approx(50.0)
    assert res['meanK'] == pytest.approx(1.0)


def test_warning_below_half_pixel_recall(monkeypatch):
    logged = []

    def record(msg, logger=None, level=None):
        logged.append((msg, level))

    monkeypatch.setattr(metric_module, 'print_log', record)
    # GT: 3 px of 'a', 1 of 'b'; selected {b}: pixel recall 25 %
    _run([_sample([[1, 1], [1, 1]], [[0, 0], [0, 1]], ['b'])])
    warnings = [m for m, lvl in logged if lvl is not None]
    assert len(warnings) == 1 and 'bounded by the selection' in warnings[0]
    assert any('pixel recall 25.00 %' in m for m, _ in logged)
    logged.clear()
    _run([_sample([[0, 0], [0, 1]], [[0, 0], [0, 1]], ['a'])])  # 75 %
    assert not [m for m, lvl in logged if lvl is not None]


def test_voc20b_selection_through_pred_remap():
    meta = PascalVOC20bDataset.METAINFO
    names = list(meta['classes'])
    # GT: aeroplane (0) 2 px, background (20) 2 px; selecting 'bed' (a
    # background stand-in, index 25) covers the background pixels
    gt = [[0, 0, 20, 20]]
    res = _run([_sample([[0, 0, 25, 25]], gt, [names[25]])], meta=meta)
    assert res['catRecall'] == pytest.approx(50.0)
    assert res['pixRecall'] == pytest.approx(50.0)
    res = _run([_sample([[0, 0, 25, 25]], gt, [names[0], names[25]])],
               meta=meta)
    assert res['catRecall'] == pytest.approx(100.0)


def test_unknown_selected_name_is_refused():
    with pytest.raises(ValueError, match='not in the dataset metainfo'):
        _run([_sample([[0]], [[0]], ['zebra'])])
