import numpy as np
import pytest
from mmseg.registry import TRANSFORMS
from PIL import Image


def _results(path, reduce_zero_label=False, label_map=None):
    return dict(
        seg_map_path=str(path),
        reduce_zero_label=reduce_zero_label,
        label_map=label_map,
        seg_fields=[])


@pytest.fixture
def tif16(tmp_path):
    label = np.array([[0, 1, 300], [846, 65535, 5]], dtype=np.uint16)
    path = tmp_path / 'label.tif'
    Image.fromarray(label).save(path, 'TIFF')
    return path, label


@pytest.mark.parametrize('backend', ['pillow', 'cv2'])
def test_keeps_uint16(tif16, backend):
    path, label = tif16
    t = TRANSFORMS.build(
        dict(
            type='LoadOVAnnotations',
            ignore_index=65535,
            imdecode_backend=backend))
    out = t(_results(path))
    assert out['gt_seg_map'].dtype == np.uint16
    np.testing.assert_array_equal(out['gt_seg_map'], label)
    assert out['seg_fields'] == ['gt_seg_map']


def test_reduce_zero_label_and_label_map(tif16):
    path, _ = tif16
    t = TRANSFORMS.build(dict(type='LoadOVAnnotations', ignore_index=65535))
    out = t(_results(path, reduce_zero_label=True))
    np.testing.assert_array_equal(
        out['gt_seg_map'],
        np.array([[65535, 0, 299], [845, 65535, 4]], dtype=np.uint16))
    out = t(_results(path, label_map={300: 7, 1: 2}))
    np.testing.assert_array_equal(
        out['gt_seg_map'],
        np.array([[0, 2, 7], [846, 65535, 5]], dtype=np.uint16))


def test_uint8_png_matches_mmseg(tmp_path):
    label = np.array([[0, 1, 150], [255, 3, 0]], dtype=np.uint8)
    path = tmp_path / 'label.png'
    Image.fromarray(label).save(path)
    ours = TRANSFORMS.build(dict(type='LoadOVAnnotations'))
    for rzl in (False, True):
        # mmseg's transform latches reduce_zero_label on first use (ours
        # does not), so it needs a fresh instance per setting
        mmseg = TRANSFORMS.build(dict(type='LoadAnnotations'))
        a = ours(_results(path, reduce_zero_label=rzl))['gt_seg_map']
        b = mmseg(_results(path, reduce_zero_label=rzl))['gt_seg_map']
        assert a.dtype == b.dtype == np.uint8
        np.testing.assert_array_equal(a, b)


def test_errors(tmp_path, tif16):
    with pytest.raises(ValueError, match='ignore_index'):
        TRANSFORMS.build(dict(type='LoadOVAnnotations', ignore_index=-1))
    # 65535 does not fit uint8
    png = tmp_path / 'small.png'
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(png)
    t = TRANSFORMS.build(dict(type='LoadOVAnnotations', ignore_index=65535))
    with pytest.raises(ValueError, match='does not fit'):
        t(_results(png))
    # RGB file is not a label map
    rgb = tmp_path / 'rgb.png'
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(rgb)
    with pytest.raises(ValueError, match='single-channel'):
        TRANSFORMS.build(dict(type='LoadOVAnnotations'))(_results(rgb))
    # transform and dataset disagree on reduce_zero_label
    path, _ = tif16
    t = TRANSFORMS.build(
        dict(
            type='LoadOVAnnotations',
            ignore_index=65535,
            reduce_zero_label=False))
    with pytest.raises(ValueError, match='reduce_zero_label'):
        t(_results(path, reduce_zero_label=True))
