"""Bad data is refused with the file's name before compute is spent."""
import shutil

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from PIL import Image


def make_coco_root(tmp_path, shared_data, image_bytes=None, label=None):
    root = tmp_path / 'coco'
    img_dir = root / 'images' / 'val2017'
    ann_dir = root / 'annotations' / 'val2017'
    img_dir.mkdir(parents=True)
    ann_dir.mkdir(parents=True)
    src = shared_data / 'coco_stuff164k' / 'images' / 'val2017' / \
        '000000000139.jpg'
    img = img_dir / 'x.jpg'
    if image_bytes is None:
        shutil.copy(src, img)
    else:
        img.write_bytes(image_bytes)
    if label is None:
        w, h = Image.open(src).size
        label = np.zeros((h, w), np.uint8)
    Image.fromarray(label).save(ann_dir / 'x_labelTrainIds.png')
    return root, src


@pytest.mark.parametrize('kind', ['truncated', 'garbage'])
def test_unreadable_image_names_the_file(kind, tmp_path, shared_data,
                                         build_from_config):
    src = shared_data / 'coco_stuff164k/images/val2017/000000000139.jpg'
    data = src.read_bytes()[:1000] if kind == 'truncated' else b'garbage'
    root, _ = make_coco_root(tmp_path, shared_data, image_bytes=data)
    dataset = build_from_config('cocostuff', str(root), split='test')
    with pytest.raises(AssertionError, match='failed to load image.*x.jpg'):
        dataset[0]


def test_label_outside_vocabulary_refused_at_first_iteration(
        tmp_path, shared_data, build_from_config):
    """A label value >= T (not 255) stops training with the file name."""
    from mmseg.registry import MODELS

    from dcp_mm.testing import tiny_dcp_model_cfg as tiny_cfg
    src = shared_data / 'coco_stuff164k/images/val2017/000000000139.jpg'
    w, h = Image.open(src).size
    label = np.full((h, w), 3, np.uint8)
    label[:10] = 200  # not a COCO-Stuff-171 train id, not ignore
    root, _ = make_coco_root(tmp_path, shared_data, label=label)
    dataset = build_from_config('cocostuff', str(root), split='test')
    sample = dataset[0]
    model = MODELS.build(
        tiny_cfg(train_vocabulary=list(dataset.metainfo['classes'])))
    model.train()
    ds = sample['data_samples']
    ds.gt_sem_seg = PixelData(data=ds.gt_sem_seg.data[:, :64, :64])
    data = model.data_preprocessor(
        dict(inputs=[sample['inputs'][:, :64, :64]], data_samples=[ds]), True)
    with pytest.raises(ValueError, match=r'\[200\].*x_labelTrainIds.png'):
        model(**data, mode='loss')
    assert torch.is_tensor(sample['inputs'])
