"""Pascal Context-59 on synthetic files (no Pascal Context sample data)."""
import numpy as np
import pytest
from PIL import Image

from dcp_mm.datasets import PASCAL_CONTEXT_59_CLASSES, PascalContext59OVDataset

IDS = ('2008_000002', '2008_000003')


@pytest.fixture
def pc59_root(tmp_path, write_jpg):
    """mmseg layout (0 = background, 1..59) + CAT-Seg layout (0..58, 255).
    """
    root = tmp_path / 'VOC2010'
    rng = np.random.default_rng(0)
    for i, img_id in enumerate(IDS):
        write_jpg(root / 'JPEGImages' / f'{img_id}.jpg', 24, 32, seed=i)
        label = rng.integers(0, 60, (24, 32)).astype(np.uint8)
        label[0, :4] = 0  # background
        label[1, :4] = 59  # last class
        for sub in ('SegmentationClassContext', ):
            (root / sub).mkdir(exist_ok=True)
            Image.fromarray(label).save(root / sub / f'{img_id}.png')
        # what CAT-Seg's prepare_pascal_context_59.py writes
        catseg = np.where(label == 0, 255, label.astype(np.int64) - 1)
        out = root / 'annotations_detectron2' / 'pc59_val'
        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(catseg.astype(np.uint8)).save(out / f'{img_id}.png')
    split = root / 'ImageSets' / 'SegmentationContext'
    split.mkdir(parents=True)
    (split / 'val.txt').write_text('\n'.join(IDS) + '\n')
    return root


def test_synthetic_mmseg_layout(pc59_root, build_from_config, read_label):
    dataset = build_from_config('pc59', pc59_root)
    assert isinstance(dataset, PascalContext59OVDataset)
    assert len(dataset) == 2
    meta = dataset.metainfo
    assert tuple(meta['classes']) == PASCAL_CONTEXT_59_CLASSES
    assert len(meta['classes']) == 59 and len(meta['palette']) == 59
    assert meta['ignore_index'] == 255 and meta['reduce_zero_label'] is True
    ds = dataset[0]['data_samples']
    gt = ds.gt_sem_seg.data[0].numpy()
    ref = read_label(ds.seg_map_path).astype(np.int64)
    np.testing.assert_array_equal(gt, np.where(ref == 0, 255, ref - 1))
    assert set(np.unique(gt)) <= set(range(59)) | {255}
    assert gt[0, 0] == 255 and gt[1, 0] == 58


def test_catseg_layout_gives_same_labels(pc59_root, build_from_config):
    mmseg_layout = build_from_config('pc59', pc59_root)
    catseg_layout = build_from_config(
        'pc59',
        pc59_root,
        data_prefix=dict(
            img_path='JPEGImages',
            seg_map_path='annotations_detectron2/pc59_val'),
        reduce_zero_label=False)
    for idx in range(2):
        a = mmseg_layout[idx]['data_samples'].gt_sem_seg.data
        b = catseg_layout[idx]['data_samples'].gt_sem_seg.data
        assert (a == b).all()
