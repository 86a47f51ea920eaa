"""The ablation configs (configs/dcp/ablations): each differs from the full
model in exactly the keys its row of dcp_mm/apis/ablations.py declares, and
each builds, trains one step and predicts on the tiny CLIP architecture."""
import argparse
import ast
from pathlib import Path

import pytest
import torch
from mmengine.config import Config, DictAction
from mmseg.registry import MODELS

from dcp_mm.apis.ablations import (ABLATION_CONFIG_DIR, CONFIG_ROOT,
                                   FULL_MODEL_CONFIG, TABLES, AblationRow,
                                   ablation_rows)
from dcp_mm.testing import TINY_CFG_OPTIONS, TINY_VOCABULARY, random_seg_batch

REPO_ROOT = Path(__file__).resolve().parents[2]
ABLATION_DIR = REPO_ROOT / 'configs' / ABLATION_CONFIG_DIR
FULL_CONFIG = REPO_ROOT / 'configs' / FULL_MODEL_CONFIG
CONFIG_FILES = sorted(ABLATION_DIR.glob('*.py'))
ROWS = ablation_rows()
FULL_ROW = AblationRow('full model', FULL_MODEL_CONFIG)
MISSING = object()


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    """Tiny tensors: one thread avoids oversubscribing a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny_options() -> dict:
    """TINY_CFG_OPTIONS (the e2e test's --cfg-options) as a dict."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *TINY_CFG_OPTIONS]).cfg_options


def flatten(value, prefix=''):
    """Nested dicts / lists -> {dotted key: leaf value}."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)) and any(
            isinstance(v, (dict, list, tuple)) for v in value):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    out = {}
    for key, v in items:
        out.update(flatten(v, f'{prefix}.{key}' if prefix else str(key)))
    if not out:  # empty container: a leaf
        out[prefix] = value
    return out


def differing_keys(a: dict, b: dict):
    fa, fb = flatten(a), flatten(b)
    return {
        k
        for k in set(fa) | set(fb) if fa.get(k, MISSING) != fb.get(k, MISSING)
    }


def _covered(key: str, declared) -> bool:
    return any(key == d or key.startswith(d + '.') for d in declared)


def test_flatten_and_diff_by_hand():
    a = dict(model=dict(x=1, sel=dict(tau=0.5, k=2), lst=[dict(t=1)]))
    b = dict(model=dict(x=1, sel=None, lst=[dict(t=2)], new=()))
    assert flatten(a) == {
        'model.x': 1,
        'model.sel.tau': 0.5,
        'model.sel.k': 2,
        'model.lst.0.t': 1
    }
    assert differing_keys(a, b) == {
        'model.sel.tau', 'model.sel.k', 'model.sel', 'model.lst.0.t',
        'model.new'
    }


def test_config_files_match_table_rows():
    assert len(CONFIG_FILES) > 0, f'no ablation config in {ABLATION_DIR}'
    configs = [r.config for r in ROWS]
    assert len(set(configs)) == len(configs), 'a config serves two rows'
    assert len(CONFIG_FILES) == len(ROWS)
    assert {f'{ABLATION_CONFIG_DIR}/{p.name}' for p in CONFIG_FILES} == \
        set(configs)
    # every table has exactly one full-model row
    for table in TABLES.values():
        full = [r for r in table.rows if r.is_full_model]
        assert len(full) == 1, (table.key, full)
        assert full[0].changed_keys == ()


def test_ablation_configs_only_override():
    """Each file: `_base_` = the full model, then `model = dict(...)` (and
    `find_unused_parameters` for rows with unused parameters), nothing else."""
    for path in CONFIG_FILES:
        tree = ast.parse(path.read_text())
        assigned = {}
        for node in tree.body:
            assert isinstance(node, ast.Assign), (path.name, node)
            for target in node.targets:
                assigned[target.id] = node.value
        allowed = {'_base_', 'model', 'find_unused_parameters'}
        assert set(assigned) <= allowed, (path.name, set(assigned))
        assert {'_base_', 'model'} <= set(assigned), path.name
        assert ast.literal_eval(assigned['_base_']) == \
            '../dcp_vitb16_cocostuff.py', path.name


@pytest.mark.parametrize('row', ROWS, ids=[r.stem for r in ROWS])
def test_differs_in_exactly_the_declared_keys(row):
    full = Config.fromfile(str(FULL_CONFIG)).to_dict()
    cfg = Config.fromfile(str(row.config_path(CONFIG_ROOT))).to_dict()
    diff = differing_keys(full, cfg)
    declared = set(row.changed_keys)
    assert declared, f'{row.stem} declares no change'
    uncovered = {k for k in diff if not _covered(k, declared)}
    assert not uncovered, f'{row.stem}: undeclared changes {uncovered}'
    unused = {d for d in declared if not any(_covered(k, {d}) for k in diff)}
    assert not unused, f'{row.stem}: declared but unchanged {unused}'


def _batch(n=2, size=64, vocab=5):
    return random_seg_batch(n, size, vocab)


def _attr(model, dotted: str):
    obj = model
    for part in dotted.split('.')[1:]:  # drop the leading 'model'
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize(
    'row', ROWS + [FULL_ROW], ids=[r.stem for r in ROWS + [FULL_ROW]])
def test_builds_trains_and_predicts_tiny(row):
    cfg = Config.fromfile(str(row.config_path(CONFIG_ROOT)))
    cfg.merge_from_dict(_tiny_options())
    model = MODELS.build(cfg.model)
    # the declared switches reach the built modules
    for key in row.changed_keys:
        if not key.startswith('model.'):
            continue
        expected = cfg
        for part in key.split('.'):
            expected = expected[part]
        value = _attr(model, key)
        if expected is None:
            assert value is None, key
        else:
            assert value == expected, (key, value, expected)
    model.set_vocabulary(list(TINY_VOCABULARY), 'train')
    model.set_vocabulary(list(TINY_VOCABULARY), 'test')

    model.train()
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_bce'])
    losses['loss_bce'].backward()
    trainable = [(n, p) for n, p in model.named_parameters()
                 if p.requires_grad]
    assert trainable
    no_grad = {n for n, p in trainable if p.grad is None}
    for name, p in trainable:
        if name not in no_grad:
            assert torch.isfinite(p.grad).all(), name
    if 'find_unused_parameters' in row.changed_keys:
        # without attention guidance A the last CLIP block's query projection
        # only feeds [CLS] (used without gradient): DDP must allow it
        last = len(model.backbone.visual.transformer.resblocks) - 1
        assert no_grad == {
            f'backbone.visual.transformer.resblocks.{last}.attn.q_proj_weight'
        }, no_grad
        assert cfg.find_unused_parameters is True
        assert not (model.decode_head.spatial_enhance
                    and model.decode_head.fuse_attn)
    else:
        assert not no_grad, f'parameters without gradient: {no_grad}'

    model.eval()
    data = model.data_preprocessor(_batch(), False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert len(out) == 2
    assert out[0].seg_logits.data.shape == (5, 64, 64)
    pred = out[0].pred_sem_seg.data
    assert pred.shape == (1, 64, 64)
    assert 0 <= pred.min() and pred.max() < 5
    assert ('tv_relabelled' in out[0]) == (model.post_processor is not None)
