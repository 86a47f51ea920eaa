"""ExemplarCropPromptSource: top-M regions by area and masked crops on
synthetic label maps, and on the COCO-Stuff sample data."""
import numpy as np
import pytest
from mmseg.registry import MODELS

from dcp_mm.models.prompt_banks.exemplar_crop_prompt_source import (
    masked_crop, top_regions)


def _labels():
    a = np.full((6, 8), 255, dtype=np.uint8)
    a[0:2, 0:3] = 0  # class 0: 6 px
    a[3:6, 4:8] = 1  # class 1: 12 px
    b = np.full((6, 8), 2, dtype=np.uint8)  # class 2: 40 px
    b[0:4, 0:2] = 0  # class 0: 8 px
    c = np.zeros((6, 8), dtype=np.uint8)
    c[5, 7] = 1  # class 1: 1 px; class 0: 47 px
    return [a, b, c]


def test_top_regions_by_area():
    regions = top_regions(_labels(), num_classes=4, num_prompts=2)
    assert regions[0] == [(47, 2, 0), (8, 1, 0)]
    assert regions[1] == [(12, 0, 1), (1, 2, 1)]
    assert regions[2] == [(40, 1, 2)]
    assert regions[3] == []
    regions = top_regions(_labels(), 4, 3, min_area=2)
    assert [r[1] for r in regions[1]] == [0]  # the 1 px region is skipped
    assert [a for a, _, _ in regions[0]] == [47, 8, 6]


def test_top_regions_ties_go_to_the_earlier_image():
    maps = [np.zeros((2, 2), np.uint8)] * 3
    assert top_regions(maps, 1, 2)[0] == [(4, 0, 0), (4, 1, 0)]


def test_top_regions_refuses_out_of_range_labels():
    with pytest.raises(ValueError, match='outside'):
        top_regions([np.full((2, 2), 7, np.uint8)], 4, 1)


def test_masked_crop_is_the_bounding_box():
    img = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    label = _labels()[0]
    crop, mask = masked_crop(img, label == 1)
    assert crop.shape == (3, 4, 3) and mask.all()
    assert np.array_equal(crop, img[3:6, 4:8])
    # an L-shaped region: the box includes pixels outside the region
    lab = np.zeros((4, 4), bool)
    lab[0, 0:3] = lab[0:3, 0] = True
    crop, mask = masked_crop(img[:4, :4], lab)
    assert crop.shape == (3, 3, 3) and mask.sum() == 5 and not mask[1, 1]
    with pytest.raises(ValueError, match='empty mask'):
        masked_crop(img, np.zeros((6, 8), bool))
    with pytest.raises(ValueError, match='differ in size'):
        masked_crop(img, np.ones((5, 8), bool))


def test_source_on_sample_data(shared_data):
    source = MODELS.build(
        dict(
            type='ExemplarCropPromptSource',
            dataset=dict(
                type='COCOStuff171Dataset',
                data_root=str(shared_data / 'coco_stuff164k'),
                data_prefix=dict(
                    img_path='images/train2017',
                    seg_map_path='annotations/train2017')),
            min_area=16))
    names = ['person', 'sky-other', 'no such category']
    out = source(names, 2)
    assert len(out) == 3 and out[2] == []
    assert 1 <= len(out[0]) <= 2
    for img, mask in out[0] + out[1]:
        assert img.dtype == np.uint8 and img.shape[2] == 3
        assert mask.shape == img.shape[:2] and mask.any()
        # tight box: the region touches all four borders
        assert mask[0].any() and mask[-1].any()
        assert mask[:, 0].any() and mask[:, -1].any()
    if len(out[0]) == 2:
        assert out[0][0][1].sum() >= out[0][1][1].sum()  # by area
    assert source.fingerprint(names) == source.fingerprint(names[:1])


def test_source_bad_arguments():
    with pytest.raises(ValueError, match='dataset config'):
        MODELS.build(dict(type='ExemplarCropPromptSource', dataset='x'))
    with pytest.raises(ValueError, match='min_area'):
        MODELS.build(
            dict(
                type='ExemplarCropPromptSource',
                dataset=dict(type='COCOStuff171Dataset'),
                min_area=0))


class _FakeDataset:
    """Two synthetic images (BGR, as mmcv loads them) with label maps."""
    metainfo = dict(classes=('a', 'b', 'c', 'd'))

    def __init__(self):
        rng = np.random.default_rng(0)
        self.items = [
            dict(
                img=rng.integers(0, 255, (6, 8, 3), dtype=np.uint8),
                gt_seg_map=label) for label in _labels()[:2]
        ]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_source_returns_the_masked_crops_of_a_synthetic_dataset():
    source = MODELS.build(
        dict(
            type='ExemplarCropPromptSource',
            dataset=dict(type='COCOStuff171Dataset'),
            min_area=1))
    fake = _FakeDataset()
    source._dataset = fake
    out = source(['b', 'a', 'd', 'zzz'], 2)
    assert [len(o) for o in out] == [1, 2, 0, 0]
    # 'b' (class 1): image 0, rows 3..5, cols 4..7, RGB
    img, mask = out[0][0]
    assert np.array_equal(img, fake.items[0]['img'][3:6, 4:8, ::-1])
    assert mask.all()
    # 'a' (class 0): image 1 (8 px, rows 0..3, cols 0..1) before image 0
    (img1, mask1), (img0, mask0) = out[1]
    assert np.array_equal(img1, fake.items[1]['img'][0:4, 0:2, ::-1])
    assert mask1.all() and mask1.shape == (4, 2)
    assert np.array_equal(img0, fake.items[0]['img'][0:2, 0:3, ::-1])
