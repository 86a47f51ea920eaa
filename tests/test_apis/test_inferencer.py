"""OVSegInferencer on the tiny random CLIP: inputs, outputs, vocabulary
changes without stale text, DCS selections / TV relabels exposed."""
import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from dcp_mm.apis import OVSegInferencer, vocabulary_palette
from dcp_mm.testing import TINY_CFG_OPTIONS

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs' / 'dcp' / 'dcp_vitb16_cocostuff.py')
SEEN = ['person', 'chair', 'cat']


def tiny_options() -> dict:
    """TINY_CFG_OPTIONS parsed as --cfg-options, whole mode, seen set."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    opts = parser.parse_args(
        ['--o', *TINY_CFG_OPTIONS, 'model.test_cfg.mode=whole']).o
    opts['model.train_vocabulary'] = SEEN
    return opts


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    init_default_scope('mmseg')
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(tiny_options())
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path)


@pytest.fixture(scope='module')
def inferencer(checkpoint):
    return OVSegInferencer(
        CONFIG,
        weights=checkpoint,
        vocabulary=['cat', 'dog', 'sky'],
        device='cpu',
        cfg_options=tiny_options())


def image(h=40, w=56, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3), np.uint8)


def test_label_maps_and_metainfo(inferencer):
    res = inferencer(image())
    assert res['predictions'].shape == (40, 56)
    assert res['predictions'].max() < 3
    assert set(res['dcs_selected']) <= {'cat', 'dog', 'sky'}
    assert res['dcs_selected']  # DCS keeps at least one category
    assert isinstance(res['tv_relabelled'], dict)
    ds = inferencer([image(), image(30, 30, 1)], return_datasamples=True)
    assert all(isinstance(d, SegDataSample) for d in ds)
    assert ds[1].seg_logits.data.shape == (3, 30, 30)
    assert 'tv_relabelled' in ds[0].metainfo


def test_vocabulary_change_is_never_stale(inferencer, checkpoint):
    inferencer(image(), vocabulary=['cat', 'dog', 'sky'])
    new = ['road', 'tree', 'person', 'car']
    got = inferencer(image(), vocabulary=new, return_datasamples=True)
    assert got.seg_logits.data.shape[0] == 4
    assert inferencer.vocabulary == new
    assert set(got.metainfo['dcs_selected']) <= set(new)
    fresh = OVSegInferencer(
        CONFIG,
        weights=checkpoint,
        vocabulary=new,
        device='cpu',
        cfg_options=tiny_options())
    exp = fresh(image(), return_datasamples=True)
    torch.testing.assert_close(got.seg_logits.data, exp.seg_logits.data)
    assert inferencer.model.dataset_meta['classes'] == tuple(new)
    # a category keeps its colour across vocabularies
    assert vocabulary_palette(['person'
                               ]) == vocabulary_palette(['x', 'person'])[1:]


def test_cached_vocabulary_runs_no_text_forward(inferencer):
    inferencer(image(), vocabulary=['cat', 'grass'])
    before = inferencer.model.text_encoder.num_text_forwards
    inferencer(image(seed=3))
    assert inferencer.model.text_encoder.num_text_forwards == before


def test_files_folders_and_vocabulary_file(inferencer, tmp_path):
    import mmcv
    for i in range(2):
        mmcv.imwrite(image(seed=i), str(tmp_path / f'{i}.png'))
    vocab = tmp_path / 'vocab.txt'
    vocab.write_text('# my words\ncat\n\ndog\n')
    res = inferencer(
        str(tmp_path), vocabulary=str(vocab), out_dir=str(tmp_path / 'o'))
    assert len(res['predictions']) == 2
    assert inferencer.vocabulary == ['cat', 'dog']
    assert len(list((tmp_path / 'o' / 'pred').glob('*.png'))) == 2


def test_bad_inputs(inferencer, tmp_path):
    with pytest.raises(FileNotFoundError, match='vocabulary file'):
        inferencer.set_vocabulary(str(tmp_path / 'missing.txt'))
    with pytest.raises(ValueError, match='palette has 1 colours'):
        inferencer.set_vocabulary(['a', 'b'], palette=[[0, 0, 0]])
    with pytest.raises(FileNotFoundError, match='image'):
        inferencer(str(tmp_path / 'nope.jpg'))
    with pytest.raises(ValueError, match='duplicated'):
        inferencer(image(), vocabulary=['cat', 'cat'])
