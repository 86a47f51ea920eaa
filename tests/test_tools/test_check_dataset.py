"""tools/analysis/check_dataset.py: scan a dataset before compute."""
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    'check_dataset', REPO / 'tools/analysis/check_dataset.py')
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
SRC = 'coco_stuff164k/images/val2017/000000000139.jpg'


def _config(tmp_path, root) -> str:
    path = tmp_path / 'ds.py'
    path.write_text(f'''
custom_imports = dict(imports=['dcp_mm'], allow_failed_imports=False)
train_dataloader = dict(
    batch_size=1,
    dataset=dict(
        type='COCOStuff171Dataset',
        data_root={str(root)!r},
        data_prefix=dict(img_path='images', seg_map_path='ann'),
        pipeline=[]))
''')
    return str(path)


def test_scan_reports_every_bad_file(tmp_path, shared_data, capsys):
    root = tmp_path / 'coco'
    (root / 'images').mkdir(parents=True)
    (root / 'ann').mkdir()
    data = (shared_data / SRC).read_bytes()
    w, h = Image.open(shared_data / SRC).size
    good = np.full((h, w), 3, np.uint8)
    files = dict(
        good=(data, good),
        trunc=(data[:len(data) // 2], good),
        text=(b'this is not an image', good),
        half=(data, good[::2, ::2]),
        range=(data, np.full((h, w), 250, np.uint8)))
    for name, (img, label) in files.items():
        (root / 'images' / f'{name}.jpg').write_bytes(img)
        Image.fromarray(label).save(root / 'ann' / f'{name}_labelTrainIds.png')
    cfg = _config(tmp_path, root)
    assert tool.main([cfg, '--no-progress']) == 1
    out = capsys.readouterr().out
    bad = [ln for ln in out.splitlines() if ln.startswith('BAD ')]
    assert len(bad) == 4, out
    for name in ('trunc', 'text', 'half', 'range'):
        assert any(f'{name}.jpg' in ln for ln in bad), name
    assert 'train: 4 bad of 5 samples' in out
    assert not any('good.jpg' in ln for ln in bad)
    for name in ('trunc', 'text', 'half', 'range'):
        (root / 'images' / f'{name}.jpg').unlink()
    assert tool.main([cfg, '--no-progress']) == 0


def test_empty_folder_is_exit_code_2(tmp_path, capsys):
    root = tmp_path / 'empty'
    (root / 'images').mkdir(parents=True)
    assert tool.main([_config(tmp_path, root), '--no-progress']) == 2
    err = capsys.readouterr().err
    assert str(root / 'images') in err and 'holds no image' in err
