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
