"""One crop-size key (apply_crop_size) and the PhotoMetricDistortion check.
"""
import json
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmseg.datasets.transforms import PhotoMetricDistortion

from dcp_mm.engine.config_checks import (apply_crop_size,
                                         check_photometric_distortion)

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / 'configs' / 'dcp' / 'dcp_vitb16_cocostuff.py'


def _parts(cfg):
    pipe = cfg.train_dataloader.dataset.pipeline
    by_type = {t['type']: t for t in pipe}
    return dict(
        resize=tuple(by_type['Resize']['scale']),
        crop=tuple(by_type['RandomCrop']['crop_size']),
        pre=tuple(cfg.model.data_preprocessor.size),
        test=tuple(cfg.model.test_cfg.crop_size),
        stride=tuple(cfg.model.test_cfg.stride),
        window=cfg.model.decode_head.window_size,
        key=tuple(cfg.crop_size))


def test_main_config_is_consistent_and_one_key_sets_every_part():
    cfg = Config.fromfile(str(MAIN))
    assert _parts(cfg) == dict(
        resize=(1333, 384),
        crop=(384, 384),
        pre=(384, 384),
        test=(384, 384),
        stride=(256, 256),
        window=12,
        key=(384, 384))
    # as tools/train.py: --cfg-options crop_size=(128,128)
    cfg.merge_from_dict({'crop_size': (128, 128)})
    assert apply_crop_size(cfg) == (128, 128)
    # window 12 of a 24 x 24 grid at 384 -> 4 of 8 x 8 at 128
    assert _parts(cfg) == dict(
        resize=(1333, 128),
        crop=(128, 128),
        pre=(128, 128),
        test=(128, 128),
        stride=(85, 85),
        window=4,
        key=(128, 128))
    # idempotent
    apply_crop_size(cfg)
    assert _parts(cfg)['window'] == 4


def test_crop_size_errors():
    cfg = Config.fromfile(str(MAIN))
    with pytest.raises(ValueError, match='not a positive integer'):
        apply_crop_size(cfg, (100, 100))  # window 12 * 100 / 384
    with pytest.raises(ValueError, match='positive int'):
        apply_crop_size(cfg, (0, 64))
    with pytest.raises(ValueError, match='no crop_size'):
        apply_crop_size(dict(model=dict()))


def test_photometric_distortion_zero_hue_refused():
    # what happens without the check: numpy fails inside the transform
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match='high <= 0'):
        for _ in range(50):  # the hue step runs with probability 1/2
            PhotoMetricDistortion(hue_delta=0)(dict(img=img.copy()))
    cfg = Config.fromfile(str(MAIN))
    check_photometric_distortion(cfg)  # defaults are fine
    cfg.merge_from_dict({'train_dataloader.dataset.pipeline.5.hue_delta': 0})
    with pytest.raises(ValueError) as err:
        check_photometric_distortion(cfg)
    msg = str(err.value)
    assert 'train_dataloader.dataset.pipeline.5.hue_delta=0' in msg
    assert 'remove the transform' in msg


def test_photometric_distortion_brightness():
    cfg = Config.fromfile(str(MAIN))
    # brightness_delta=0 runs in mmseg 1.2.2 (uniform(0, 0)): accepted
    cfg.merge_from_dict(
        {'train_dataloader.dataset.pipeline.5.brightness_delta': 0})
    check_photometric_distortion(cfg)
    cfg.merge_from_dict(
        {'train_dataloader.dataset.pipeline.5.brightness_delta': -4})
    with pytest.raises(ValueError, match='brightness_delta=-4'):
        check_photometric_distortion(cfg)


def _plain(cfg):
    """Config -> dict with tuples as lists (for comparisons)."""
    return json.loads(json.dumps(cfg.to_dict(), default=list))


@pytest.mark.parametrize(
    'path',
    sorted(
        p for p in (REPO / 'configs').rglob('*.py')
        if '_base_' not in p.parts),
    ids=lambda p: p.stem)
def test_every_config_agrees_with_its_crop_size_key(path):
    cfg = Config.fromfile(str(path))
    assert 'crop_size' in cfg, f'{path} has no top-level crop_size'
    before = _plain(cfg)
    apply_crop_size(cfg)  # writes crop_size into every part
    assert _plain(cfg) == before, 'a part disagrees with crop_size'
