"""CheckedDataset: bad samples fail naming the file, or are skipped."""

import numpy as np
import pytest
import torch
from mmseg.registry import DATASETS, MODELS
from PIL import Image

from dcp_mm.datasets import BadSampleError, CheckedDataset
from dcp_mm.testing.tiny_config import tiny_train_pipeline

SRC = 'coco_stuff164k/images/val2017/000000000139.jpg'


def _root(tmp_path, shared_data, samples):
    """COCO-Stuff layout; samples: name -> (image bytes, label array)."""
    img_dir = tmp_path / 'coco' / 'images' / 'train2017'
    ann_dir = tmp_path / 'coco' / 'annotations' / 'train2017'
    img_dir.mkdir(parents=True)
    ann_dir.mkdir(parents=True)
    for name, (data, label) in samples.items():
        (img_dir / f'{name}.jpg').write_bytes(data)
        Image.fromarray(label).save(ann_dir / f'{name}_labelTrainIds.png')
    return tmp_path / 'coco'


def _png(array) -> bytes:
    import io
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format='PNG')
    return buf.getvalue()


def _dataset(root, pipeline=None, **kwargs):
    return DATASETS.build(
        dict(
            type='CheckedDataset',
            dataset=dict(
                type='COCOStuff171Dataset',
                data_root=str(root),
                data_prefix=dict(
                    img_path='images/train2017',
                    seg_map_path='annotations/train2017'),
                pipeline=pipeline or tiny_train_pipeline(True, 32)),
            **kwargs))


@pytest.fixture
def good(shared_data):
    data = (shared_data / SRC).read_bytes()
    w, h = Image.open(shared_data / SRC).size
    return data, np.full((h, w), 3, np.uint8)


def test_good_samples_pass_through(tmp_path, shared_data, good):
    ds = _dataset(_root(tmp_path, shared_data, dict(a=good)))
    assert isinstance(ds, CheckedDataset) and len(ds) == 1
    assert ds.metainfo['classes'][3] == ds.dataset.metainfo['classes'][3]
    out = ds[0]
    assert out['inputs'].shape == (3, 32, 32)
    assert ds.check_sample(0) is None and ds.num_bad == 0


@pytest.mark.parametrize('kind, problem', [
    ('truncated', 'truncated JPEG'),
    ('empty', 'empty file'),
    ('garbage', 'not a readable image'),
    ('label_size', 'must have the size of its image'),
])
def test_bad_sample_names_file_and_problem(tmp_path, shared_data, good, kind,
                                           problem):
    data, label = good
    if kind == 'truncated':  # 90 %: cv2 would decode it with a grey tail
        data = data[:int(len(data) * 0.9)]
    elif kind == 'empty':
        data = b''
    elif kind == 'garbage':
        data = b'\xff\xd8 not really a jpeg \xff\xd9'
    else:
        label = label[:-7]
    ds = _dataset(_root(tmp_path, shared_data, dict(bad=(data, label))))
    with pytest.raises(BadSampleError, match=problem) as info:
        ds[0]
    assert 'bad.jpg' in str(info.value) or 'bad_labelTrainIds' in str(
        info.value)


def test_pipeline_errors_are_reraised_with_the_file(tmp_path, shared_data,
                                                    good):
    root = _root(tmp_path, shared_data, dict(a=good))
    ds = _dataset(
        root,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='PackSegInputs'),
            dict(type='RandomCrop', crop_size=(8, 8))
        ],
        check_files=False)
    with pytest.raises(BadSampleError, match=r'a\.jpg.*KeyError') as info:
        ds[0]  # RandomCrop after packing: no 'img' key
    assert isinstance(info.value.__cause__, KeyError)


def test_skip_bad_counts_and_moves_on(tmp_path, shared_data, good):
    data, label = good
    samples = dict(a_bad=(data[:500], label), b_bad=(b'', label), c=good)
    ds = _dataset(_root(tmp_path, shared_data, samples), skip_bad=True)
    outs = [ds[i] for i in range(3)]
    assert all(o['data_samples'].img_path.endswith('c.jpg') for o in outs)
    assert ds.num_bad == 2
    assert sorted(k.rsplit('/', 1)[-1]
                  for k in ds.bad_samples) == ['a_bad.jpg', 'b_bad.jpg']
    strict = _dataset(
        _root(tmp_path / 'x', shared_data, dict(a=(b'', label))),
        skip_bad=True,
        max_skips=2)
    with pytest.raises(BadSampleError, match='3 consecutive bad samples'):
        strict[0]
    with pytest.raises(ValueError, match='max_skips'):
        CheckedDataset(strict.dataset, max_skips=-1)


def test_gray_rgba_and_small_images_work(tmp_path, shared_data, good):
    rgb = np.array(Image.open(shared_data / SRC).convert('RGB'))[:40, :48]
    gray = rgb.mean(-1).astype(np.uint8)
    rgba = np.concatenate([rgb, np.full((40, 48, 1), 77, np.uint8)], -1)
    small = rgb[:20, :24]
    label = np.full((40, 48), 3, np.uint8)
    root = _root(
        tmp_path, shared_data,
        dict(
            gray=(_png(gray), label),
            rgba=(_png(rgba), label),
            small=(_png(small), label[:20, :24])))
    loading = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='RandomCrop', crop_size=(32, 32)),
        dict(type='PackSegInputs')
    ]
    ds = _dataset(root, pipeline=loading)
    out = {
        ds[i]['data_samples'].img_path.rsplit('/')[-1]: ds[i]
        for i in range(3)
    }
    g = out['gray.jpg']['inputs']
    assert g.shape == (3, 32, 32) and torch.equal(g[0], g[2])
    a = out['rgba.jpg']['inputs']  # BGR, alpha dropped
    crop = a.shape[1:]
    assert a.shape[0] == 3 and crop == (32, 32)
    s = out['small.jpg']
    assert s['inputs'].shape == (3, 20, 24)  # crop clipped to the image
    pre = MODELS.build(
        dict(
            type='SegDataPreProcessor',
            mean=[0, 0, 0],
            std=[1, 1, 1],
            size=(32, 32),
            seg_pad_val=255))
    batch = pre(
        dict(inputs=[s['inputs']], data_samples=[s['data_samples']]),
        training=True)
    assert batch['inputs'].shape == (1, 3, 32, 32)
    seg = batch['data_samples'][0].gt_sem_seg.data
    assert (seg[:, :20, :24] == 3).all() and (seg[:, 20:] == 255).all()


def test_half_size_label_and_out_of_range_values_name_the_file(
        tmp_path, shared_data, good):
    """Issue 9, case 5: a label map at half the image size trained silently
    (resized independently of the image); label values outside the
    vocabulary must name the file too."""
    data, label = good
    h, w = label.shape
    half = np.full((h // 2, w // 2), 3, np.uint8)
    wrong = np.full_like(label, 200)  # valid: [0, 171) or 255
    wrong[:5] = 3
    root = _root(tmp_path, shared_data,
                 dict(half=(data, half), wrong=(data, wrong)))
    ds = _dataset(root)
    with pytest.raises(BadSampleError) as info:
        ds[0]
    assert 'half_labelTrainIds.png' in str(info.value)
    assert f'{w // 2}x{h // 2}' in str(info.value)
    with pytest.raises(BadSampleError) as info:
        ds[1]
    msg = str(info.value)
    assert 'wrong_labelTrainIds.png' in msg and '[200]' in msg
    assert '[0, 171)' in msg
    # the scan (tools/analysis/check_dataset.py) reads the label file only
    assert ds.label_problem(0) is None and '[200]' in ds.label_problem(1)


def test_skipped_samples_are_reported_to_a_file(tmp_path, shared_data, good):
    from dcp_mm.datasets import read_bad_sample_report
    data, label = good
    report = tmp_path / 'bad.txt'
    root = _root(tmp_path, shared_data, dict(a=(data[:300], label), b=good))
    ds = _dataset(root, skip_bad=True, report_file=str(report))
    for _ in range(2):  # a second epoch: reported once
        assert ds[0]['data_samples'].img_path.endswith('b.jpg')
    bad = read_bad_sample_report(str(report))
    assert list(bad) == [str(root / 'images' / 'train2017' / 'a.jpg')]
    assert 'truncated JPEG' in next(iter(bad.values()))
    assert read_bad_sample_report(str(tmp_path / 'none.txt')) == {}


def test_wrap_checked_and_image_folder_checks(tmp_path):
    from dcp_mm.datasets import check_image_folders, wrap_checked
    loader = dict(
        batch_size=1,
        dataset=dict(
            type='COCOStuff171Dataset',
            data_root=str(tmp_path),
            data_prefix=dict(img_path='images', seg_map_path='ann')))
    wrapped = wrap_checked(loader, skip_bad=True, report_file='r.txt')
    assert wrapped['dataset']['type'] == 'CheckedDataset'
    assert wrapped['dataset']['dataset'] == loader['dataset']
    assert wrapped['dataset']['skip_bad'] is True
    again = wrap_checked(wrapped)  # never wrapped twice
    assert again['dataset']['dataset'] == loader['dataset']
    assert again['dataset']['skip_bad'] is False
    with pytest.raises(FileNotFoundError, match='does not exist'):
        check_image_folders(wrapped['dataset'], 'train')
    (tmp_path / 'images').mkdir()
    (tmp_path / 'images' / 'notes.txt').write_text('x')
    with pytest.raises(FileNotFoundError) as info:
        check_image_folders(wrapped['dataset'], 'train_dataloader')
    assert str(tmp_path / 'images') in str(info.value)
    assert 'holds no image' in str(info.value)
    (tmp_path / 'images' / 'sub').mkdir()
    (tmp_path / 'images' / 'sub' / 'a.JPG').write_bytes(b'x')
    check_image_folders(wrapped['dataset'], 'train')
