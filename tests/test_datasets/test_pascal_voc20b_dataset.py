import numpy as np
import pytest
from mmseg.registry import DATASETS

from dcp_mm.datasets import (PASCAL_VOC_20_CLASSES, PASCAL_VOC_20B_CLASSES,
                             PascalVOC20bDataset)


def test_val_real_data(shared_data, build_from_config, read_label):
    dataset = build_from_config('voc20b',
                                shared_data / 'VOCdevkit' / 'VOC2012')
    assert isinstance(dataset, PascalVOC20bDataset)
    assert len(dataset) == 1
    meta = dataset.metainfo
    assert tuple(meta['classes']) == PASCAL_VOC_20B_CLASSES
    assert len(meta['classes']) == 59 and len(meta['palette']) == 59
    assert tuple(
        meta['eval_classes']) == PASCAL_VOC_20_CLASSES + ('background', )
    assert tuple(meta['pred_remap']) == tuple(range(20)) + (20, ) * 39
    assert meta['ignore_index'] == 255 and meta['reduce_zero_label'] is False
    ds = dataset[0]['data_samples']
    gt = ds.gt_sem_seg.data[0].numpy()
    ref = read_label(ds.seg_map_path).astype(np.int64)
    # CAT-Seg clsID_to_trID_bg: 0 -> 20, k -> k - 1, 255 kept
    expected = np.where(ref == 0, 20, np.where(ref == 255, 255, ref - 1))
    np.testing.assert_array_equal(gt, expected)
    assert set(np.unique(gt)) == {18, 20, 255}


@pytest.mark.parametrize('bad', [
    dict(reduce_zero_label=True),
    dict(metainfo=dict(classes=PASCAL_VOC_20B_CLASSES[:21])),
])
def test_bad_arguments(shared_data, bad):
    with pytest.raises(ValueError):
        DATASETS.build(
            dict(
                type='PascalVOC20bDataset',
                data_root=str(shared_data / 'VOCdevkit' / 'VOC2012'),
                ann_file='ImageSets/Segmentation/val.txt',
                data_prefix=dict(
                    img_path='JPEGImages', seg_map_path='SegmentationClass'),
                **bad))
