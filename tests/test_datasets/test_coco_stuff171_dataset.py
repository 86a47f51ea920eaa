import numpy as np
import pytest
from mmseg.registry import DATASETS

from dcp_mm.datasets import COCO_STUFF_171_CLASSES, COCOStuff171Dataset


def _check_sample(sample, crop=None):
    ds = sample['data_samples']
    gt = ds.gt_sem_seg.data
    assert gt.dim() == 3 and gt.shape[0] == 1, f'gt shape {tuple(gt.shape)}'
    values = set(gt.unique().tolist())
    assert values <= set(range(171)) | {255}, values
    assert len(values - {255}) >= 2, 'a real label map has several classes'
    if crop is not None:
        assert tuple(sample['inputs'].shape[1:]) == crop
        assert tuple(gt.shape[1:]) == crop
    return ds, gt


def test_val_split_real_data(shared_data, build_from_config, read_label):
    dataset = build_from_config('cocostuff', shared_data / 'coco_stuff164k')
    assert isinstance(dataset, COCOStuff171Dataset)
    assert len(dataset) == 6  # 6 staged val2017 pairs
    meta = dataset.metainfo
    assert tuple(meta['classes']) == COCO_STUFF_171_CLASSES
    assert len(meta['palette']) == 171 and meta['ignore_index'] == 255
    assert meta['reduce_zero_label'] is False

    sample = dataset[0]
    ds, gt = _check_sample(sample)
    # image resized to the 640 x 640 test scale, label at full resolution
    assert tuple(sample['inputs'].shape) == (3, 640, 640)
    ref = read_label(ds.seg_map_path)
    assert ds.seg_map_path.endswith('000000000139_labelTrainIds.png')
    assert tuple(gt.shape[1:]) == ref.shape == tuple(ds.ori_shape)
    np.testing.assert_array_equal(gt[0].numpy(), ref)


def test_train_split_real_data(shared_data, build_from_config):
    dataset = build_from_config(
        'cocostuff', shared_data / 'coco_stuff164k', split='train')
    assert len(dataset) == 13
    for idx in range(2):
        _check_sample(dataset[idx], crop=(384, 384))


def test_bad_root_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        DATASETS.build(
            dict(
                type='COCOStuff171Dataset',
                data_root=str(tmp_path / 'missing'),
                data_prefix=dict(
                    img_path='images/val2017',
                    seg_map_path='annotations/val2017')))
