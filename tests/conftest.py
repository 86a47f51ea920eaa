"""Shared fixtures: registry scope, paths to the sample data."""
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope

import dcp_mm  # noqa: F401  (registers modules, installs compat layers)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT / 'demo' / 'data'


@pytest.fixture(autouse=True)
def _mmseg_scope():
    init_default_scope('mmseg')
    torch.manual_seed(0)
    yield


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f'sample data not found at {SHARED_DATA}')
    return SHARED_DATA
