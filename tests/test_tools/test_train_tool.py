"""tools/train.py: --amp per device, unknown --cfg-options, CPU DDP setup."""
import importlib.util
import logging
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import OPTIM_WRAPPERS

from dcp_mm.engine import (BF16AutocastOptimWrapper, CfgOptionsError,
                           check_cfg_options, fix_persistent_workers,
                           parse_cfg_options, setup_cpu_distributed,
                           unknown_cfg_option_keys)
from dcp_mm.testing.tiny_config import MAIN_CONFIG

TRAIN_PY = Path(__file__).resolve().parents[2] / 'tools' / 'train.py'


def _tool():
    spec = importlib.util.spec_from_file_location('_train_tool', TRAIN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cfg(**optim_wrapper):
    return Config(
        dict(
            optim_wrapper=dict(
                type='OptimWrapper',
                optimizer=dict(type='SGD', lr=0.1),
                **optim_wrapper)))


def test_amp_on_cpu_uses_bf16_autocast_wrapper():
    cfg = _cfg()
    _tool().enable_amp(cfg, 'cpu')
    assert cfg.optim_wrapper.type == 'BF16AutocastOptimWrapper'
    wrapper_cfg = cfg.optim_wrapper.copy()
    wrapper_cfg.pop('optimizer')
    wrapper = OPTIM_WRAPPERS.build(
        wrapper_cfg,
        default_args=dict(
            optimizer=torch.optim.SGD(torch.nn.Linear(1, 1).parameters(),
                                      0.1)))
    assert isinstance(wrapper, BF16AutocastOptimWrapper)


def test_amp_on_gpu_uses_mmengine_amp_wrapper_with_loss_scaling():
    cfg = _cfg()
    _tool().enable_amp(cfg, 'cuda')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


def test_amp_bad_wrapper_or_device():
    tool = _tool()
    with pytest.raises(RuntimeError, match='OptimWrapper'):
        tool.enable_amp(
            Config(dict(optim_wrapper=dict(type='ApexOptimWrapper'))), 'cpu')
    with pytest.raises(RuntimeError, match="'xpu'"):
        tool.enable_amp(_cfg(), 'xpu')


def test_unknown_cfg_options_are_listed_with_suggestions():
    cfg = Config.fromfile(str(MAIN_CONFIG))
    opts = parse_cfg_options([
        'optim_wrapper.optimizer.lr=0.1',  # exists
        'train_dataloader.dataset.pipeline.2.scale=(1333,64)',  # list index
        'optim_wrapper.optimzer.lr=0.1',  # typo
        'train_cfg.max_iter=10',  # typo
        'train_dataloader.dataset.pipeline.12.scale=1',  # out of range
        'model.backbone.model_name.x=1',  # below a leaf
    ])
    unknown = dict(unknown_cfg_option_keys(cfg, opts))
    assert set(unknown) == {
        'optim_wrapper.optimzer.lr', 'train_cfg.max_iter',
        'train_dataloader.dataset.pipeline.12.scale',
        'model.backbone.model_name.x'
    }
    assert 'did you mean optimizer' in unknown['optim_wrapper.optimzer.lr']
    assert 'max_iters' in unknown['train_cfg.max_iter']
    assert 'list of length' in unknown[
        'train_dataloader.dataset.pipeline.12.scale']
    assert 'is a str' in unknown['model.backbone.model_name.x']


def test_train_tool_fails_or_warns_on_unknown_keys(monkeypatch):
    from dcp_mm.engine import cfg_options
    cfg = Config.fromfile(str(MAIN_CONFIG))
    opts = parse_cfg_options(['train_cfg.max_iter=10'])
    logged = []
    monkeypatch.setattr(cfg_options, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw)))
    check_cfg_options(cfg, opts, allow_unknown=True)
    assert len(logged) == 1 and 'train_cfg.max_iter' in logged[0][0]
    assert logged[0][1]['level'] == logging.WARNING
    check_cfg_options(cfg, parse_cfg_options(['train_cfg.max_iters=3']))
    assert len(logged) == 1  # known keys: nothing reported
    # an error by default, a ValueError whose text has real line breaks
    with pytest.raises(CfgOptionsError, match='did you mean max_iters') as e:
        check_cfg_options(cfg, opts)
    assert not isinstance(e.value, KeyError)
    assert '\n' in str(e.value) and '\\n' not in str(e.value)
    assert '--allow-unknown-cfg-options' in str(e.value)
    args = _tool().parse_args(
        ['c.py', '--allow-unknown-cfg-options', '--cfg-options', 'a=1'])
    assert args.allow_unknown_cfg_options and args.cfg_options == {'a': 1}


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_cpu_distributed_setup_is_skipped_without_launcher():
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert setup_cpu_distributed(cfg, 'none') is False
    assert 'model_wrapper_cfg' not in cfg
    with pytest.raises(ValueError, match='gloo'):
        setup_cpu_distributed(
            Config(dict(env_cfg=dict(dist_cfg=dict(backend='mpi')))),
            'pytorch')


def test_work_dir_with_checkpoints_is_refused(tmp_path):
    """Issue 9, case 4: training into a work dir holding iter_2/4/6.pth
    without --resume overwrote iter_2.pth and repointed last_checkpoint."""
    tool = _tool()
    work = tmp_path / 'work'
    tool.check_work_dir(str(work), resume=False, overwrite=False)  # absent
    work.mkdir()
    (work / 'run.log').write_text('logs only')
    tool.check_work_dir(str(work), resume=False, overwrite=False)
    for i in (2, 4, 6):
        (work / f'iter_{i}.pth').write_bytes(b'x')
    (work / 'last_checkpoint').write_text(str(work / 'iter_6.pth'))
    with pytest.raises(FileExistsError) as info:
        tool.check_work_dir(str(work), resume=False, overwrite=False)
    msg = str(info.value)
    assert 'iter_2.pth' in msg and str(work) in msg
    assert '--resume' in msg and '--work-dir' in msg and '--overwrite' in msg
    tool.check_work_dir(str(work), resume=True, overwrite=False)
    tool.check_work_dir(str(work), resume=False, overwrite=True)


def test_train_main_refuses_before_building_anything(tmp_path, monkeypatch):
    """The refusal happens in main(), before a runner exists."""
    tool = _tool()
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'iter_2.pth').write_bytes(b'x')
    monkeypatch.setattr(tool.Runner, 'from_cfg',
                        lambda cfg: pytest.fail('runner built'))
    with pytest.raises(FileExistsError, match='--resume'):
        tool.main([str(MAIN_CONFIG), '--work-dir', str(work)])


def test_empty_dataset_folder_fails_before_the_model(tmp_path, monkeypatch):
    """Issue 9: an empty dataset folder failed after the model was built
    with 'need at least one array to concatenate', naming no folder."""
    tool = _tool()
    root = tmp_path / 'coco'
    (root / 'images' / 'train2017').mkdir(parents=True)
    (root / 'annotations' / 'train2017').mkdir(parents=True)
    monkeypatch.setattr(tool.Runner, 'from_cfg',
                        lambda cfg: pytest.fail('runner built'))
    with pytest.raises(FileNotFoundError) as info:
        tool.main([
            str(MAIN_CONFIG), '--work-dir',
            str(tmp_path / 'w'), '--cfg-options',
            f'train_dataloader.dataset.data_root={root}'
        ])
    assert str(root / 'images' / 'train2017') in str(info.value)
    assert 'holds no image' in str(info.value)


def test_num_workers_zero_turns_persistent_workers_off():
    """Issue 9: train_dataloader.num_workers=0 failed with 'persistent_workers
    option needs num_workers > 0'."""
    cfg = Config.fromfile(str(MAIN_CONFIG))
    assert cfg.train_dataloader.persistent_workers is True
    cfg.merge_from_dict(parse_cfg_options(['train_dataloader.num_workers=0']))
    fix_persistent_workers(cfg)
    assert cfg.train_dataloader.persistent_workers is False
    cfg2 = Config.fromfile(str(MAIN_CONFIG))
    fix_persistent_workers(cfg2)  # workers > 0: unchanged
    assert cfg2.train_dataloader.persistent_workers is True


def test_data_is_checked_by_default_and_skips_are_summarised(tmp_path):
    tool = _tool()

    def config():
        cfg = Config.fromfile(str(MAIN_CONFIG))
        for loader in (cfg.train_dataloader, cfg.val_dataloader):
            loader.dataset.data_root = str(tmp_path)
            loader.dataset.data_prefix.img_path = 'images/train2017'
        return cfg

    (tmp_path / 'images' / 'train2017').mkdir(parents=True)
    (tmp_path / 'images' / 'train2017' / 'a.jpg').write_bytes(b'x')
    report = str(tmp_path / 'bad.txt')
    cfg = config()
    tool.check_data(cfg, report)
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'CheckedDataset' and ds.skip_bad is False
    assert ds.dataset.type == 'COCOStuff171Dataset'
    assert cfg.val_dataloader.dataset.type == 'CheckedDataset'
    # data_check.skip_bad (tools/train.py --skip-bad-samples)
    cfg = config()
    cfg.data_check.skip_bad = True
    tool.check_data(cfg, report)
    assert cfg.train_dataloader.dataset.skip_bad is True
    assert cfg.val_dataloader.dataset.skip_bad is False  # never at eval
    assert tool.bad_sample_summary(report) == ''
    with open(report, 'a') as f:
        f.write('x/a.jpg\tbad sample 0: truncated JPEG\n')
        f.write('x/a.jpg\tbad sample 0: truncated JPEG\n')  # 2nd epoch
        f.write('x/b.jpg\tbad sample 1: label values [300]\n')
    summary = tool.bad_sample_summary(report)
    assert summary.startswith('2 bad training samples were skipped')
    assert 'x/a.jpg: bad sample 0: truncated JPEG' in summary
    args = tool.parse_args(
        ['c.py', '--skip-bad-samples', '--overwrite', '--partial-load'])
    assert args.skip_bad_samples and args.overwrite and args.partial_load
