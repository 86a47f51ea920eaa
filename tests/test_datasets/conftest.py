"""Helpers for the dataset tests: build datasets from the base configs."""
import copy
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from mmengine.config import Config
from mmseg.registry import DATASETS
from PIL import Image

CONFIG_DIR = (
    Path(__file__).resolve().parents[2] / 'configs' / '_base_' / 'datasets')


def load_dataset_config(name: str) -> Config:
    """``configs/_base_/datasets/<name>.py`` as an mmengine Config."""
    path = CONFIG_DIR / f'{name}.py'
    assert path.is_file(), f'missing dataset config {path}'
    return Config.fromfile(str(path))


@pytest.fixture
def config_dir() -> Path:
    """``configs/_base_/datasets`` of this repository."""
    return CONFIG_DIR


@pytest.fixture
def load_config() -> Callable:
    """``load_config(name)``: a dataset base config as mmengine Config."""
    return load_dataset_config


@pytest.fixture
def build_from_config() -> Callable:
    """``build(name, data_root, split='test', **overrides)`` -> dataset."""

    def _build(name: str, data_root, split: str = 'test', **overrides):
        cfg = load_dataset_config(name)
        ds_cfg = copy.deepcopy(cfg[f'{split}_dataloader']['dataset'])
        ds_cfg['data_root'] = str(data_root)
        ds_cfg.update(overrides)
        return DATASETS.build(ds_cfg)

    return _build


def _read_label(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.array(img)


def _write_jpg(path: Path, h: int, w: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def read_label() -> Callable:
    """``read_label(path)``: the label file read with PIL (manual
    reference, independent of mmcv)."""
    return _read_label


@pytest.fixture
def write_jpg() -> Callable:
    """``write_jpg(path, h, w, seed=0)``: a small random RGB JPEG."""
    return _write_jpg
