import numpy as np
import pytest
from mmseg.registry import DATASETS

from dcp_mm.datasets import ADE20K_847_CLASSES, ADE20K847Dataset

PREFIX = dict(
    img_path='images_detectron2/training',
    seg_map_path='annotations_detectron2/training')


def test_real_data_keeps_uint16(shared_data, build_from_config, read_label):
    # only training images are staged: same format as validation
    root = shared_data / 'ade' / 'ADE20K_2021_17_01'
    dataset = build_from_config('ade847', root, data_prefix=PREFIX)
    assert isinstance(dataset, ADE20K847Dataset)
    assert len(dataset) == 2
    meta = dataset.metainfo
    assert tuple(meta['classes']) == ADE20K_847_CLASSES
    assert len(meta['classes']) == 847 and len(meta['palette']) == 847
    assert meta['ignore_index'] == 65535
    seen_wide = False
    for idx in range(len(dataset)):
        ds = dataset[idx]['data_samples']
        gt = ds.gt_sem_seg.data[0].numpy()
        values = set(np.unique(gt).tolist())
        assert values <= set(range(847)) | {65535}, values
        ref = read_label(ds.seg_map_path)
        assert ref.dtype == np.uint16
        np.testing.assert_array_equal(gt, ref)
        seen_wide |= bool((gt[gt != 65535] > 255).any())
    # ADE_train_00016900 holds train id 590: proves no uint8 wrap-around
    assert seen_wide


def test_rejects_uint8_loader_and_reduce_zero_label(shared_data):
    root = str(shared_data / 'ade' / 'ADE20K_2021_17_01')
    with pytest.raises(ValueError, match='LoadOVAnnotations'):
        DATASETS.build(
            dict(
                type='ADE20K847Dataset',
                data_root=root,
                data_prefix=PREFIX,
                pipeline=[dict(type='LoadAnnotations')]))
    with pytest.raises(ValueError, match='reduce_zero_label'):
        DATASETS.build(
            dict(
                type='ADE20K847Dataset',
                data_root=root,
                data_prefix=PREFIX,
                reduce_zero_label=True))
