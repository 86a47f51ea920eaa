import numpy as np
import pytest
from mmseg.registry import DATASETS

from dcp_mm.datasets import PASCAL_VOC_20_CLASSES, PascalVOC20Dataset


def test_val_real_data(shared_data, build_from_config, read_label):
    dataset = build_from_config('voc20', shared_data / 'VOCdevkit' / 'VOC2012')
    assert isinstance(dataset, PascalVOC20Dataset)
    assert len(dataset) == 1  # val.txt of the sample lists 2007_000123
    meta = dataset.metainfo
    assert tuple(meta['classes']) == PASCAL_VOC_20_CLASSES
    assert len(meta['classes']) == 20 and len(meta['palette']) == 20
    assert meta['ignore_index'] == 255
    ds = dataset[0]['data_samples']
    gt = ds.gt_sem_seg.data[0].numpy()
    ref = read_label(ds.seg_map_path).astype(np.int64)  # P-mode indices
    # CAT-Seg prepare_voc.py clsID_to_trID: 0 -> 255, k -> k - 1, 255 kept
    expected = np.where((ref == 0) | (ref == 255), 255, ref - 1)
    np.testing.assert_array_equal(gt, expected)
    assert set(np.unique(gt)) == {18, 255}  # train (19) and ignore


def test_requires_reduce_zero_label(shared_data):
    with pytest.raises(ValueError, match='reduce_zero_label=True'):
        DATASETS.build(
            dict(
                type='PascalVOC20Dataset',
                data_root=str(shared_data / 'VOCdevkit' / 'VOC2012'),
                ann_file='ImageSets/Segmentation/val.txt',
                data_prefix=dict(
                    img_path='JPEGImages', seg_map_path='SegmentationClass'),
                reduce_zero_label=False))
