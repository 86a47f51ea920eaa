"""tools/demo.py on the tiny random CLIP: label maps, overlays with a
legend, DCS selections / TV relabels printed."""
import importlib.util
from pathlib import Path

import mmcv
import numpy as np
import pytest
from PIL import Image

from dcp_mm.testing import TINY_CFG_OPTIONS

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location('demo', REPO / 'tools/demo.py')
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)

OPTIONS = TINY_CFG_OPTIONS + [
    'model.test_cfg.mode=whole', 'model.train_vocabulary=[person,chair]'
]


def test_demo_writes_label_maps_and_overlays(tmp_path, capsys):
    imgs = tmp_path / 'imgs'
    imgs.mkdir()
    for i, (h, w) in enumerate([(40, 50), (36, 36)]):
        arr = np.random.RandomState(i).randint(0, 256, (h, w, 3), np.uint8)
        mmcv.imwrite(arr, str(imgs / f'im{i}.jpg'))
    vocab = tmp_path / 'v.txt'
    vocab.write_text('person\nchair\nsky\n')
    out = demo.main([
        str(imgs), '--config',
        str(REPO / 'configs/dcp/dcp_vitb16_cocostuff.py'), '--vocabulary',
        str(vocab), '--out-dir',
        str(tmp_path / 'out'), '--cfg-options', *OPTIONS
    ])
    assert len(out) == 2
    pred = np.array(Image.open(out[0]['pred']))
    assert pred.shape == (40, 50) and pred.max() < 3
    vis = mmcv.imread(out[0]['vis'])
    assert vis.shape[1] == 50 + demo.LEGEND_WIDTH
    assert set(out[0]['dcs_selected']) <= {'person', 'chair', 'sky'}
    text = capsys.readouterr().out
    assert 'DCS selected' in text and 'TV relabelled' in text


def test_demo_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        demo.parse_args([
            'x.jpg', '--config', 'c.py', '--vocabulary', 'a', '--out-dir', 'o',
            '--opacity', '2'
        ])
    with pytest.raises(SystemExit):
        demo.parse_args(['x.jpg', '--vocabulary', 'a', '--out-dir', 'o'])


def test_demo_skips_an_image_it_cannot_process(tmp_path, capsys):
    """Issue 9: a 1x1 image crashed the visualizer and the rest of the
    folder was abandoned."""
    imgs = tmp_path / 'imgs'
    imgs.mkdir()
    mmcv.imwrite(np.zeros((1, 1, 3), np.uint8), str(imgs / 'a_tiny.png'))
    (imgs / 'b_text.jpg').write_text('not an image')
    arr = np.random.RandomState(0).randint(0, 256, (40, 50, 3), np.uint8)
    mmcv.imwrite(arr, str(imgs / 'c_good.jpg'))
    out = demo.main([
        str(imgs), '--config',
        str(REPO / 'configs/dcp/dcp_vitb16_cocostuff.py'), '--vocabulary',
        'person', 'sky', '--out-dir',
        str(tmp_path / 'out'), '--cfg-options', *OPTIONS
    ])
    done = [o for o in out if 'pred' in o]
    skipped = {Path(o['image']).name: o['error'] for o in out if 'error' in o}
    assert [Path(o['image']).name for o in done] == ['c_good.jpg']
    assert Path(done[0]['pred']).is_file()
    assert set(skipped) == {'a_tiny.png', 'b_text.jpg'}
    err = capsys.readouterr().err
    assert 'skipped' in err and 'b_text.jpg' in err
    assert f'{len(skipped)} of 3 images skipped' in err


def test_demo_missing_vocabulary_file_is_an_error(tmp_path):
    """A mistyped vocabulary-file path was read as a one-name vocabulary."""
    with pytest.raises(FileNotFoundError, match='vocab.txt'):
        demo.main([
            'x.jpg', '--config', 'c.py', '--vocabulary',
            str(tmp_path / 'vocab.txt'), '--out-dir',
            str(tmp_path / 'o')
        ])
