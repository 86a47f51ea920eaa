"""Every config loads and every ``type`` in it resolves in a registry."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import (FUNCTIONS, MODEL_WRAPPERS, STRATEGIES,
                               DefaultScope)
from mmseg.registry import (DATA_SAMPLERS, DATASETS, EVALUATOR, HOOKS,
                            LOG_PROCESSORS, LOOPS, METRICS, MODELS,
                            OPTIM_WRAPPERS, OPTIMIZERS, PARAM_SCHEDULERS,
                            RUNNERS, TRANSFORMS, VISBACKENDS, VISUALIZERS)

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
CONFIGS = sorted(
    p for p in CONFIG_DIR.rglob('*.py') if '_base_' not in p.parts)
REGISTRIES = (MODELS, DATASETS, TRANSFORMS, METRICS, EVALUATOR, HOOKS, LOOPS,
              OPTIMIZERS, OPTIM_WRAPPERS, PARAM_SCHEDULERS, DATA_SAMPLERS,
              VISUALIZERS, VISBACKENDS, LOG_PROCESSORS, RUNNERS, STRATEGIES,
              MODEL_WRAPPERS, FUNCTIONS)


def test_configs_were_found():
    assert len(CONFIGS) > 0, f'no configs under {CONFIG_DIR}'
    assert CONFIG_DIR / 'dcp' / 'dcp_vitb16_cocostuff.py' in CONFIGS


def _types(node, path=''):
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield path, node['type']
        for k, v in node.items():
            yield from _types(v, f'{path}.{k}' if path else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _types(v, f'{path}.{i}')


def _resolves(name: str) -> bool:
    with DefaultScope.overwrite_default_scope('mmseg'):
        return any(r.get(name) is not None for r in REGISTRIES)


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[str(p.relative_to(CONFIG_DIR)) for p in CONFIGS])
def test_config_loads_and_types_resolve(path):
    cfg = Config.fromfile(str(path))
    assert cfg.get('custom_imports', {}).get('imports') == ['dcp_mm'] or \
        'projects' in path.parts, 'configs must import dcp_mm'
    assert 'model' in cfg
    missing = [(where, t) for where, t in _types(cfg.to_dict())
               if not _resolves(t)]
    assert not missing, f'unregistered types: {missing}'


def test_inheritance_depth_at_most_three():

    def depth(path: Path) -> int:
        """Number of inheritance edges on the longest chain to a root."""
        bases = [
            b for b in Config._get_base_files(str(path))
            if not b.startswith('mmseg::')
        ]
        if not bases:
            return 0
        return 1 + max(depth((path.parent / b).resolve()) for b in bases)

    for path in CONFIGS:
        assert depth(path) <= 3, f'{path} inherits more than 3 levels'


def test_tiny_config_is_the_main_config_with_the_tiny_options():
    """configs/dcp/dcp_tiny_cocostuff.py inherits the main config and sets
    exactly what dcp_mm.testing.TINY_CFG_OPTIONS sets (the model)."""
    from dcp_mm.engine.cfg_options import parse_cfg_options
    from dcp_mm.testing import TINY_CFG_OPTIONS
    main = Config.fromfile(str(CONFIG_DIR / 'dcp' / 'dcp_vitb16_cocostuff.py'))
    main.merge_from_dict(parse_cfg_options(TINY_CFG_OPTIONS))
    tiny = Config.fromfile(str(CONFIG_DIR / 'dcp' / 'dcp_tiny_cocostuff.py'))
    assert tiny.model.to_dict() == main.model.to_dict()
    crops = [
        t['crop_size'] for t in tiny.train_dataloader.dataset.pipeline
        if t['type'] == 'RandomCrop'
    ]
    assert crops == [(64, 64)]
