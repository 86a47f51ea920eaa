"""The ablation configs (configs/dcp/ablations, configs/maftp/ablations):
each differs from its table's full model in exactly the keys its row of
dcp_mm/evaluation/ablation_tables.py declares, and each builds, trains one
step and
predicts on the tiny CLIP architectures."""
import argparse
import ast
import os.path as osp
from pathlib import Path

import pytest
import torch
from mmengine.config import Config, DictAction
from mmseg.registry import MODELS

from dcp_mm.evaluation.ablation_tables import (CONFIG_ROOT, FULL_MODEL_CONFIG,
                                               TABLES, AblationRow,
                                               ablation_rows)
from dcp_mm.testing import (TINY_CFG_OPTIONS, TINY_MAFTP_CFG_OPTIONS,
                            TINY_VOCABULARY, random_seg_batch)

REPO_ROOT = Path(__file__).resolve().parents[2]
ABLATION_CONFIG_DIR = 'dcp/ablations'
MAFTP_FULL_CONFIG = 'maftp/maftp-cdt-rc_convnextb_cocostuff.py'
MAFTP_ABLATION_DIR = 'maftp/ablations'
ABLATION_DIRS = (ABLATION_CONFIG_DIR, MAFTP_ABLATION_DIR)
CONFIG_FILES = sorted(
    p for d in ABLATION_DIRS for p in (REPO_ROOT / 'configs' / d).glob('*.py'))
# DPSeg's rows: tests/test_configs/test_dpseg_configs.py
ROWS = [
    r for r in ablation_rows()
    if r.full_config in (FULL_MODEL_CONFIG, MAFTP_FULL_CONFIG)
]
FULL_ROWS = [
    AblationRow('full model', FULL_MODEL_CONFIG),
    AblationRow(
        'MAFT+ full model', MAFTP_FULL_CONFIG, full_config=MAFTP_FULL_CONFIG)
]
MISSING = object()


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    """Tiny tensors: one thread avoids oversubscribing a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny_options(row: AblationRow, cfg: Config) -> dict:
    """The tiny --cfg-options of a row (TINY_CFG_OPTIONS, the e2e test's,
    for DCP-CLIP rows) as a dict."""
    options = list(TINY_CFG_OPTIONS)
    if row.full_config == MAFTP_FULL_CONFIG:
        # without the options of the parts the row switches off
        off = {
            part
            for part in ('text_adapter', 'aux_losses')
            if not cfg.model.get(part)
        }
        options = [
            o for o in TINY_MAFTP_CFG_OPTIONS if o.split('.')[1] not in off
        ]
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


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
    assert len(CONFIG_FILES) > 0, f'no ablation config in {ABLATION_DIRS}'
    configs = [r.config for r in ROWS]
    assert len(set(configs)) == len(configs), 'a config serves two rows'
    assert len(CONFIG_FILES) == len(ROWS)
    assert {str(p.relative_to(REPO_ROOT / 'configs'))
            for p in CONFIG_FILES} == set(configs)
    # every table has exactly one full-model row
    for table in TABLES.values():
        full = [r for r in table.rows if r.is_full_model]
        assert len(full) == 1, (table.key, full)
        assert full[0].changed_keys == ()


def test_ablation_configs_only_override():
    """Each file: `_base_` = the full model, then `model = dict(...)` (and
    `find_unused_parameters` for rows with unused parameters), nothing else."""
    for row in ROWS:
        path = row.config_path(CONFIG_ROOT)
        tree = ast.parse(path.read_text())
        assigned = {}
        for node in tree.body:
            assert isinstance(node, ast.Assign), (path.name, node)
            for target in node.targets:
                assigned[target.id] = node.value
        allowed = {'_base_', 'model', 'find_unused_parameters'}
        assert set(assigned) <= allowed, (path.name, set(assigned))
        assert {'_base_', 'model'} <= set(assigned), path.name
        full = Path(CONFIG_ROOT) / row.full_config
        assert ast.literal_eval(assigned['_base_']) == \
            osp.relpath(full, path.parent), path.name


@pytest.mark.parametrize('row', ROWS, ids=[r.stem for r in ROWS])
def test_differs_in_exactly_the_declared_keys(row):
    full = Config.fromfile(str(Path(CONFIG_ROOT) / row.full_config)).to_dict()
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
    'row', ROWS + FULL_ROWS, ids=[r.stem for r in ROWS + FULL_ROWS])
def test_builds_trains_and_predicts_tiny(row):
    cfg = Config.fromfile(str(row.config_path(CONFIG_ROOT)))
    cfg.merge_from_dict(_tiny_options(row, cfg))
    model = MODELS.build(cfg.model)
    # the declared switches reach the built modules
    for key in row.changed_keys:
        if not key.startswith('model.'):
            continue
        expected = cfg
        for part in key.split('.'):
            expected = expected[part]
        value = _attr(model, key)
        if expected is None and key == 'model.aux_losses':
            assert len(value) == 0, key  # an empty ModuleList
        elif expected is None and key == 'model.selector':
            # selector=None keeps every category
            assert type(value).__name__ == 'AllCategoriesSelector', key
        elif expected is None:
            assert value is None, key
        else:
            assert value == expected, (key, value, expected)
    model.set_vocabulary(list(TINY_VOCABULARY), 'train')
    model.set_vocabulary(list(TINY_VOCABULARY), 'test')

    model.train()
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_bce'])
    assert ('loss_rc' in losses) == bool(cfg.model.get('aux_losses'))
    loss = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(loss)
    loss.backward()
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
