"""tools/train.py: --amp per device, unknown --cfg-options, CPU DDP setup."""
import importlib.util
import logging
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import OPTIM_WRAPPERS

from dcp_mm.engine import (BF16AutocastOptimWrapper, setup_cpu_distributed,
                           unknown_cfg_option_keys)
from dcp_mm.engine.tiny_config import MAIN_CONFIG, parse_cfg_options

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


def test_train_tool_warns_or_fails_on_unknown_keys(monkeypatch):
    tool = _tool()
    cfg = Config.fromfile(str(MAIN_CONFIG))
    opts = parse_cfg_options(['train_cfg.max_iter=10'])
    logged = []
    monkeypatch.setattr(tool, 'print_log', lambda msg, **kw: logged.append(
        (msg, kw)))
    tool.check_cfg_options(cfg, opts, strict=False)
    assert len(logged) == 1 and 'train_cfg.max_iter' in logged[0][0]
    assert logged[0][1]['level'] == logging.WARNING
    tool.check_cfg_options(
        cfg, parse_cfg_options(['train_cfg.max_iters=3']), strict=True)
    assert len(logged) == 1  # known keys: nothing reported
    with pytest.raises(KeyError, match='did you mean max_iters'):
        tool.check_cfg_options(cfg, opts, strict=True)
    args = tool.parse_args(
        ['c.py', '--strict-cfg-options', '--cfg-options', 'a=1'])
    assert args.strict_cfg_options and args.cfg_options == {'a': 1}


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_cpu_distributed_setup_is_skipped_without_launcher():
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert setup_cpu_distributed(cfg, 'none') is False
    assert 'model_wrapper_cfg' not in cfg
    with pytest.raises(ValueError, match='gloo'):
        setup_cpu_distributed(
            Config(dict(env_cfg=dict(dist_cfg=dict(backend='mpi')))),
            'pytorch')
