import numpy as np

from dcp_mm.datasets import ADE20K_150_CLASSES, ADE20K150Dataset


def test_validation_real_data(shared_data, build_from_config, read_label):
    dataset = build_from_config('ade150',
                                shared_data / 'ade' / 'ADEChallengeData2016')
    assert isinstance(dataset, ADE20K150Dataset)
    assert len(dataset) == 3
    meta = dataset.metainfo
    assert tuple(meta['classes']) == ADE20K_150_CLASSES
    assert len(meta['classes']) == 150 and len(meta['palette']) == 150
    assert meta['ignore_index'] == 255 and meta['reduce_zero_label'] is True

    for idx in range(len(dataset)):
        ds = dataset[idx]['data_samples']
        gt = ds.gt_sem_seg.data[0].numpy()
        assert set(np.unique(gt)) <= set(range(150)) | {255}
        # manual read: 0 (other) -> 255, k -> k - 1
        ref = read_label(ds.seg_map_path).astype(np.int64)
        expected = np.where(ref == 0, 255, ref - 1)
        np.testing.assert_array_equal(gt, expected)
    assert (gt == 255).any() and (gt < 150).any()
