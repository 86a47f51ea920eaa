"""Pascal Context-459 on synthetic uint16 TIFFs (CAT-Seg's format)."""
import numpy as np
import pytest
from mmseg.registry import DATASETS
from PIL import Image

from dcp_mm.datasets import PASCAL_CONTEXT_459_CLASSES, PascalContext459Dataset

IDS = ('2008_000002', '2008_000003')


@pytest.fixture
def pc459_root(tmp_path, write_jpg):
    root = tmp_path / 'VOC2010'
    rng = np.random.default_rng(1)
    out = root / 'annotations_detectron2' / 'pc459_val'
    out.mkdir(parents=True)
    for i, img_id in enumerate(IDS):
        write_jpg(root / 'JPEGImages' / f'{img_id}.jpg', 20, 28, seed=i)
        # prepare_pascal_context_459.py: LabelMap - 1 saved as TIFF
        label = rng.integers(0, 459, (20, 28)).astype(np.uint16)
        label[0, :3] = 458  # last class, > 255
        label[1, :3] = 459  # ignore
        label[2, :3] = 0  # first class
        Image.fromarray(label).save(out / f'{img_id}.tif', 'TIFF')
    split = root / 'ImageSets' / 'SegmentationContext'
    split.mkdir(parents=True)
    (split / 'val.txt').write_text('\n'.join(IDS) + '\n')
    return root


def test_synthetic_tiff(pc459_root, build_from_config, read_label):
    dataset = build_from_config('pc459', pc459_root)
    assert isinstance(dataset, PascalContext459Dataset)
    assert len(dataset) == 2
    meta = dataset.metainfo
    assert tuple(meta['classes']) == PASCAL_CONTEXT_459_CLASSES
    assert len(meta['classes']) == 459 and len(meta['palette']) == 459
    assert meta['ignore_index'] == 459 and meta['reduce_zero_label'] is False
    for idx in range(2):
        ds = dataset[idx]['data_samples']
        gt = ds.gt_sem_seg.data[0].numpy()
        ref = read_label(ds.seg_map_path)
        assert ref.dtype == np.uint16
        np.testing.assert_array_equal(gt, ref)
        assert set(np.unique(gt)) <= set(range(460))
        assert gt[0, 0] == 458 and gt[1, 0] == 459 and gt[2, 0] == 0


def test_rejects_uint8_loader(pc459_root):
    with pytest.raises(ValueError, match='uint8'):
        DATASETS.build(
            dict(
                type='PascalContext459Dataset',
                data_root=str(pc459_root),
                ann_file='ImageSets/SegmentationContext/val.txt',
                data_prefix=dict(
                    img_path='JPEGImages',
                    seg_map_path='annotations_detectron2/pc459_val'),
                pipeline=[dict(type='LoadAnnotations')]))
