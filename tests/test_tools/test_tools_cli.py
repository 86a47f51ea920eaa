"""Fast error paths of tools/test.py and tools/train.py (no model is built).

Each call must fail before any model is built, with a non-zero exit and a
message that says what is wrong. The subprocess calls are the real CLI
(startup = importing torch / open_clip / mmseg, a few seconds); argument
parsing is also checked in-process.
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from dcp_mm.evaluation.zero_shot import BENCHMARKS

pytestmark = pytest.mark.slow  # runs the tools in subprocesses

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_PY = REPO_ROOT / 'tools' / 'test.py'
TRAIN_PY = REPO_ROOT / 'tools' / 'train.py'
CONFIG = REPO_ROOT / 'configs' / 'dcp' / 'dcp_vitb16_cocostuff.py'
TIMEOUT = 120  # generous bound against hangs, not a speed assert


def _run(script, *args):
    return subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=REPO_ROOT)


def _load_tool(path):
    spec = importlib.util.spec_from_file_location(f'_tool_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / 'model.pth'
    path.write_bytes(b'never read: every run here fails before loading it')
    return path


def test_unknown_dataset_lists_valid_names(checkpoint):
    res = _run(TEST_PY, CONFIG, checkpoint, '--dataset', 'ade150', 'coco80')
    assert res.returncode != 0
    assert "invalid choice: 'coco80'" in res.stderr
    for name in BENCHMARKS:
        assert repr(name) in res.stderr


def test_missing_checkpoint_is_named(tmp_path):
    missing = tmp_path / 'no_such_ckpt.pth'
    res = _run(TEST_PY, CONFIG, missing, '--dataset', 'ade150')
    assert res.returncode != 0
    assert 'FileNotFoundError: checkpoint file not found' in res.stderr
    assert str(missing) in res.stderr


def test_data_root_with_two_datasets(checkpoint, tmp_path):
    res = _run(TEST_PY, CONFIG, checkpoint, '--dataset', 'ade150', 'pc59',
               '--data-root', tmp_path)
    assert res.returncode != 0
    assert 'ValueError: --data-root needs exactly one --dataset' in res.stderr


def test_missing_data_root_is_named(checkpoint, tmp_path):
    gone = tmp_path / 'no_ade_here'
    res = _run(TEST_PY, CONFIG, checkpoint, '--dataset', 'ade150',
               '--data-root', gone)
    assert res.returncode != 0
    assert "FileNotFoundError: data root of benchmark 'ade150'" in res.stderr
    assert str(gone) in res.stderr and '--data-root' in res.stderr


def test_test_py_arguments(capsys, checkpoint):
    tool = _load_tool(TEST_PY)
    args = tool.parse_args([
        'cfg.py', 'ckpt.pth', '--dataset', 'ade150', 'pc59', '--out', 'o',
        '--show-dir', 'v', '--cfg-options', 'a.b=1', '--launcher', 'pytorch'
    ])
    assert args.dataset == ['ade150', 'pc59']
    assert (args.out, args.show_dir, args.launcher) == ('o', 'v', 'pytorch')
    assert args.cfg_options == {'a.b': 1}
    with pytest.raises(SystemExit) as err:
        tool.parse_args(['cfg.py', 'ckpt.pth', '--data-root', 'd'])
    assert err.value.code == 2
    assert '--data-root needs exactly one --dataset' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args(['cfg.py', 'ckpt.pth', '--dataset', 'ade151'])
    assert 'ade847' in capsys.readouterr().err


def test_train_py_arguments():
    tool = _load_tool(TRAIN_PY)
    args = tool.parse_args(['cfg.py', '--amp', '--resume', '--work-dir', 'w'])
    assert (args.amp, args.resume, args.work_dir) == (True, True, 'w')
    assert args.launcher == 'none'


def test_test_py_selection_flag_and_optional_checkpoint():
    from mmengine.config import Config
    tool = _load_tool(TEST_PY)
    args = tool.parse_args(['cfg.py'])
    assert args.checkpoint is None and args.selection == 'model'
    args = tool.parse_args(['cfg.py', 'c.pth', '--selection', 'both'])
    assert (args.checkpoint, args.selection) == ('c.pth', 'both')
    with pytest.raises(SystemExit):
        tool.parse_args(['cfg.py', '--selection', 'gt'])
    cfg = Config.fromfile(str(CONFIG))
    tool.set_selection_mode(cfg, 'model')
    assert 'selection' not in cfg.model.test_cfg
    tool.set_selection_mode(cfg, 'oracle')
    assert cfg.model.test_cfg.selection == 'oracle'
    assert cfg.model.test_cfg.mode == 'slide'  # the rest is kept
    rows = [dict(benchmark='voc20', mIoU=1.0), dict(benchmark='pc59')]
    oracle = [dict(benchmark='voc20', mIoU=9.0), dict(benchmark='pc59')]
    merged = tool.merge_oracle_rows(rows, oracle)
    assert [r['benchmark'] for r in merged
            ] == ['voc20', 'voc20 (oracle)', 'pc59', 'pc59 (oracle)']
    assert merged[1]['mIoU'] == 9.0
    with pytest.raises(ValueError, match='oracle rows'):
        tool.merge_oracle_rows(rows, oracle[:1])


def test_test_py_without_checkpoint_takes_seen_categories_from_train_set():
    from mmengine.config import Config

    from dcp_mm.datasets.class_names import COCO_STUFF_171_CLASSES
    tool = _load_tool(TEST_PY)
    cfg = Config.fromfile(str(CONFIG))
    tool.set_untrained_vocabulary(cfg)
    assert cfg.model.train_vocabulary == list(COCO_STUFF_171_CLASSES)
    cfg = Config.fromfile(str(CONFIG))
    cfg.train_dataloader.dataset.metainfo = dict(classes=('a', 'b'))
    tool.set_untrained_vocabulary(cfg)
    assert cfg.model.train_vocabulary == ['a', 'b']
    cfg.model.train_vocabulary = ['x']  # given: kept
    tool.set_untrained_vocabulary(cfg)
    assert cfg.model.train_vocabulary == ['x']
