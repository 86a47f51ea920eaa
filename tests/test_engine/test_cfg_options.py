"""One --cfg-options checker for train, test, demo and benchmark (issue 9,
case 7): no false positives on keys mmengine / mmseg read, an error with
did-you-mean on unknown keys."""
from pathlib import Path

import pytest
from mmengine.config import Config

from dcp_mm.engine import (CfgOptionsError, check_cfg_options,
                           parse_cfg_options, unknown_cfg_option_keys)

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in [
    *(REPO / 'configs').rglob('*.py'), *(REPO /
                                         'projects').glob('*/configs/*.py')
] if '_base_' not in p.parts)
MAIN = REPO / 'configs' / 'dcp' / 'dcp_vitb16_cocostuff.py'

# keys mmengine's Runner / loops / hooks and torch's DataLoader read, which
# the shipped configs do not all set
RUNNER_KEYS = [
    'randomness.seed=1',
    'randomness.diff_rank_seed=True',
    'randomness.deterministic=True',
    'train_cfg.val_begin=2',
    'train_cfg.dynamic_intervals=None',
    'val_cfg.fp16=True',
    'test_cfg.fp16=True',
    'env_cfg.resource_limit=4096',
    'default_hooks.checkpoint.max_keep_ckpts=2',
    'default_hooks.checkpoint.save_best=mIoU',
    'default_hooks.checkpoint.save_begin=2',
    'default_hooks.logger.ignore_last=False',
    'train_dataloader.pin_memory=True',
    'train_dataloader.prefetch_factor=2',
    'train_dataloader.drop_last=True',
    'optim_wrapper.accumulative_counts=2',
    'log_processor.window_size=5',
    'auto_scale_lr.base_batch_size=16',
    'work_dir=w',
    'experiment_name=x',
    'model.neck.cost_dims=64',
    'model.test_cfg.mode=whole',
]


def _leaves(node, prefix=''):
    """Every dotted key of a config (list items by index)."""
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from _leaves(v, f'{prefix}.{k}' if prefix else str(k))
    elif isinstance(node, (list, tuple)) and node and prefix:
        for i, v in enumerate(node):
            yield from _leaves(v, f'{prefix}.{i}')
    elif prefix:
        yield prefix


def test_configs_found():
    assert len(CONFIGS) > 5


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_every_key_of_every_shipped_config_is_known(path):
    cfg = Config.fromfile(str(path))
    keys = list(_leaves(cfg.to_dict()))
    assert len(keys) > 50
    options = {k: 0 for k in keys}
    assert unknown_cfg_option_keys(cfg, options) == []


def test_keys_mmengine_reads_are_known():
    cfg = Config.fromfile(str(MAIN))
    opts = parse_cfg_options(RUNNER_KEYS)
    assert unknown_cfg_option_keys(cfg, opts) == []
    check_cfg_options(cfg, opts)  # no error


def test_a_new_part_type_brings_its_arguments():
    cfg = Config.fromfile(str(MAIN))
    opts = parse_cfg_options([
        'model.decode_head.type=CATSegUpsampleHead',
        'model.decode_head.shallow_up_dims=(8,4)'
    ])
    assert unknown_cfg_option_keys(cfg, opts) == []


@pytest.mark.parametrize('key, suggestion', [
    ('model.test_cfg.mdoe=whole', 'mode'),
    ('randomness.sed=1', 'seed'),
    ('train_cfg.val_begn=2', 'val_begin'),
    ('optim_wrapper.optimzer.lr=0.1', 'optimizer'),
    ('train_dataloader.num_worker=0', 'num_workers'),
    ('default_hooks.checkpoint.max_keep_ckpt=1', 'max_keep_ckpts'),
])
def test_unknown_keys_are_errors_with_did_you_mean(key, suggestion):
    """model.test_cfg.mdoe=whole silently ran slide mode on main."""
    cfg = Config.fromfile(str(MAIN))
    with pytest.raises(CfgOptionsError) as info:
        check_cfg_options(cfg, parse_cfg_options([key]))
    msg = str(info.value)
    assert key.split('=')[0] in msg
    assert f'did you mean {suggestion}' in msg or f', {suggestion}' in msg
    assert '\\n' not in msg and '\n' in msg  # real line breaks
    check_cfg_options(cfg, parse_cfg_options([key]), allow_unknown=True)


def test_no_options_no_check():
    check_cfg_options(Config(dict(a=1)), None)
    check_cfg_options(Config(dict(a=1)), {})
    with pytest.raises(ValueError, match='key=value'):
        parse_cfg_options(['a'])
