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


def test_checkpoint_of_another_template_count_is_refused(checkpoint):
    """Issue 9, case 2: the README's demo loaded a templates=single
    checkpoint into the 80-template model with two layers left random."""
    from dcp_mm.engine import CheckpointMismatchError
    opts = dict(tiny_options())
    opts['model.text_encoder.templates'] = 'imagenet80'
    with pytest.raises(CheckpointMismatchError) as info:
        OVSegInferencer(
            CONFIG,
            weights=checkpoint,
            vocabulary=['cat'],
            device='cpu',
            cfg_options=opts)
    msg = str(info.value)
    assert 'template count' in msg and 'cost_embed' in msg


def test_unknown_cfg_options_are_refused(checkpoint):
    from dcp_mm.engine import CfgOptionsError
    opts = dict(tiny_options(), **{'model.test_cfg.mdoe': 'whole'})
    with pytest.raises(CfgOptionsError, match='did you mean mode'):
        OVSegInferencer(CONFIG, weights=checkpoint, cfg_options=opts)


def test_model_from_the_checkpoint_alone(tmp_path):
    """No config: the model is built from the config saved in the
    checkpoint (mmengine's meta['cfg']); the seen vocabulary comes from
    the checkpoint's meta."""
    from dcp_mm.engine.model_checkpoint import MODEL_META_KEY, model_meta
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(tiny_options())
    cfg.model.pretrained = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    meta = {
        'cfg': cfg.pretty_text,
        MODEL_META_KEY: model_meta(cfg.model, model, ['sky', 'cat'])
    }
    path = tmp_path / 'iter_1.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    inf = OVSegInferencer(None, weights=str(path), device='cpu')
    assert inf.model.train_vocabulary == ['sky', 'cat']
    assert inf.vocabulary == ['sky', 'cat']  # default: the seen categories
    assert inf.model.text_encoder.num_templates == 1  # templates=single
    out = inf(image(), return_datasamples=True)
    assert out.seg_logits.data.shape == (2, 40, 56)
    with pytest.raises(ValueError, match='give a model config'):
        OVSegInferencer(None)
