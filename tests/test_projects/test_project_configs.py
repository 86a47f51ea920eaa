"""Every config under projects/*/configs loads and its types resolve.

The same checks as tests/test_configs/test_configs.py, for the projects'
configs (they import ``dcp_mm`` and their own package and inherit mmseg's
SAN config with an ``mmseg::`` base).
"""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import (DATA_SAMPLERS, DATASETS, EVALUATOR, HOOKS,
                            LOG_PROCESSORS, LOOPS, METRICS, MODELS,
                            OPTIM_WRAPPERS, OPTIMIZERS, PARAM_SCHEDULERS,
                            RUNNERS, TASK_UTILS, TRANSFORMS, VISBACKENDS,
                            VISUALIZERS)

PROJECTS = Path(__file__).resolve().parents[2] / 'projects'
CONFIGS = sorted(PROJECTS.glob('*/configs/**/*.py'))
REGISTRIES = (MODELS, DATASETS, TRANSFORMS, METRICS, EVALUATOR, HOOKS, LOOPS,
              OPTIMIZERS, OPTIM_WRAPPERS, PARAM_SCHEDULERS, DATA_SAMPLERS,
              VISUALIZERS, VISBACKENDS, LOG_PROCESSORS, RUNNERS, TASK_UTILS)
# TASK_UTILS: SAN's HungarianAssigner and match costs
EXPECTED = {'san_dcp': ('SANWithTagValidation', 'SANWithCategorySelection')}


def test_project_configs_were_found():
    found = {p.relative_to(PROJECTS).parts[0] for p in CONFIGS}
    assert found == set(EXPECTED), f'configs found for {found}'


def _types(node):
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield node['type']
        for v in node.values():
            yield from _types(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _types(v)


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[str(p.relative_to(PROJECTS)) for p in CONFIGS])
def test_project_config_loads_and_types_resolve(path):
    cfg = Config.fromfile(str(path))
    project = path.relative_to(PROJECTS).parts[0]
    imports = cfg.custom_imports['imports']
    assert imports[0] == 'dcp_mm', 'dcp_mm must be imported first (shim)'
    assert any(i.startswith(f'projects.{project}.') for i in imports)
    assert cfg.model.type in EXPECTED[project]
    assert cfg.model.pretrained, 'the released configs load CLIP weights'
    with DefaultScope.overwrite_default_scope('mmseg'):
        missing = [
            t for t in _types(cfg.to_dict())
            if not any(r.get(t) is not None for r in REGISTRIES)
        ]
    assert not missing, f'unregistered types: {missing}'
