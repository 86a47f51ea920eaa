"""Every dataset base config loads, builds and yields a sample."""
import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

# name -> (dataset type, number of classes, default data_root)
CONFIGS = {
    'cocostuff': ('COCOStuff171Dataset', 171, 'data/coco_stuff164k'),
    'ade150': ('ADE20K150Dataset', 150, 'data/ade/ADEChallengeData2016'),
    'ade847': ('ADE20K847Dataset', 847, 'data/ade/ADE20K_2021_17_01'),
    'pc59': ('PascalContext59OVDataset', 59, 'data/VOCdevkit/VOC2010'),
    'pc459': ('PascalContext459Dataset', 459, 'data/VOCdevkit/VOC2010'),
    'voc20': ('PascalVOC20Dataset', 20, 'data/VOCdevkit/VOC2012'),
    'voc20b': ('PascalVOC20bDataset', 59, 'data/VOCdevkit/VOC2012'),
}
# where the sample data lives under demo/data, and data_prefix
# overrides for splits that are not staged (ADE-847 validation)
SAMPLE_ROOTS = {
    'cocostuff': ('coco_stuff164k', None),
    'ade150': ('ade/ADEChallengeData2016', None),
    'ade847': ('ade/ADE20K_2021_17_01',
               dict(
                   img_path='images_detectron2/training',
                   seg_map_path='annotations_detectron2/training')),
    'voc20': ('VOCdevkit/VOC2012', None),
    'voc20b': ('VOCdevkit/VOC2012', None),
}


def test_exactly_seven_dataset_configs(config_dir):
    assert len(CONFIGS) == 7
    for name in CONFIGS:
        assert (config_dir / f'{name}.py').is_file(), name


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_variables(name, load_config):
    cfg = load_config(name)
    dataset_type, _, data_root = CONFIGS[name]
    assert cfg.dataset_type == dataset_type
    assert cfg.data_root == data_root
    assert tuple(cfg.crop_size) == (384, 384)
    assert 'custom_imports' not in cfg, 'comes from default_runtime.py'
    steps = [t['type'] for t in cfg.test_pipeline]
    assert steps[0] == 'LoadImageFromFile' and steps[-1] == 'PackSegInputs'
    assert steps.index('Resize') < [
        i for i, s in enumerate(steps) if s.startswith('Load')
    ][1], 'labels must be loaded after Resize (evaluated at full size)'
    for split in ('val', 'test'):
        loader = cfg[f'{split}_dataloader']
        assert loader.batch_size == 1 and loader.num_workers == 2
        assert loader.dataset.type == dataset_type
        assert cfg[f'{split}_evaluator']['type'] == 'OVIoUMetric'
    assert ('train_dataloader' in cfg) == (name == 'cocostuff')


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_combines_with_default_runtime(name, tmp_path, config_dir):
    # mmengine rejects keys defined by two bases of one leaf config
    runtime = config_dir.parent / 'default_runtime.py'
    leaf = tmp_path / 'leaf.py'
    leaf.write_text(f"_base_ = ['{runtime}', '{config_dir / name}.py']\n")
    cfg = Config.fromfile(str(leaf))
    assert cfg.dataset_type == CONFIGS[name][0]


@pytest.mark.parametrize('name', sorted(SAMPLE_ROOTS))
def test_build_and_iterate_sample_data(name, shared_data, build_from_config):
    sub, prefix = SAMPLE_ROOTS[name]
    overrides = {} if prefix is None else dict(data_prefix=prefix)
    dataset = build_from_config(name, shared_data / sub, **overrides)
    _check_dataset(name, dataset)


def _check_dataset(name, dataset):
    dataset_type, num_classes, _ = CONFIGS[name]
    assert type(dataset).__name__ == dataset_type
    assert len(dataset) >= 1
    meta = dataset.metainfo
    assert len(meta['classes']) == num_classes
    num_eval = len(meta.get('eval_classes') or meta['classes'])
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (3, 640, 640)
    gt = sample['data_samples'].gt_sem_seg.data
    valid = gt[gt != meta['ignore_index']]
    assert valid.numel() > 0
    assert 0 <= int(valid.min()) and int(valid.max()) < num_eval
    assert tuple(gt.shape[1:]) == tuple(sample['data_samples'].ori_shape)


def test_cocostuff_train_dataloader(shared_data, build_from_config,
                                    load_config):
    dataset = build_from_config(
        'cocostuff', shared_data / 'coco_stuff164k', split='train')
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (3, 384, 384)
    cfg = load_config('cocostuff')
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'
    assert cfg.val_dataloader.dataset.data_prefix.img_path == \
        'images/val2017'


def _synthetic_voc2010(root, write_jpg):
    """Minimal VOC2010 tree with both Pascal Context label layouts."""
    rng = np.random.default_rng(2)
    img_id = '2008_000002'
    write_jpg(root / 'JPEGImages' / f'{img_id}.jpg', 16, 20)
    for sub, high, dtype, suffix in (('SegmentationClassContext', 60, np.uint8,
                                      'png'),
                                     ('annotations_detectron2/pc459_val', 459,
                                      np.uint16, 'tif')):
        (root / sub).mkdir(parents=True)
        label = rng.integers(0, high, (16, 20)).astype(dtype)
        Image.fromarray(label).save(root / sub / f'{img_id}.{suffix}')
    split = root / 'ImageSets' / 'SegmentationContext'
    split.mkdir(parents=True)
    (split / 'val.txt').write_text(img_id + '\n')


@pytest.mark.parametrize('name', ['pc59', 'pc459'])
def test_build_and_iterate_synthetic(name, tmp_path, build_from_config,
                                     write_jpg):
    root = tmp_path / 'VOC2010'
    _synthetic_voc2010(root, write_jpg)
    _check_dataset(name, build_from_config(name, root))
