"""The DPSeg configs (configs/dpseg, reconstructed): the recipe, the
ablation tables' rows (dcp_mm/apis/dpseg_ablations.py) and their configs,
and every config builds, trains one step and predicts on the tiny ConvNeXt
CLIP with exemplar prompts from the COCO-Stuff sample data."""
import argparse
import ast
from pathlib import Path

import pytest
import torch
from mmengine.config import Config, DictAction
from mmseg.registry import MODELS
from test_ablation_configs import _covered, differing_keys

from dcp_mm.evaluation.ablation_tables import CONFIG_ROOT, TABLES
from dcp_mm.testing import (TINY_DPSEG_CFG_OPTIONS, TINY_VOCABULARY,
                            random_seg_batch)

REPO = Path(__file__).resolve().parents[2]
DPSEG_FULL_CONFIG = 'dpseg/dpseg_convnextb_cocostuff.py'
DPSEG_ABLATION_DIR = 'dpseg/ablations'
DPSEG_TABLES = {k: t for k, t in TABLES.items() if k.startswith('DPSeg')}
DPSEG_DIR = REPO / 'configs' / 'dpseg'
CONFIGS = sorted(DPSEG_DIR.rglob('*.py'))
ABLATION_FILES = sorted((REPO / 'configs' / DPSEG_ABLATION_DIR).glob('*.py'))
SAMPLE_COCO = REPO / 'demo' / 'data' / 'coco_stuff164k'

# the tiny DPSeg options, prompts from the sample COCO-Stuff labels
TINY_DPSEG = TINY_DPSEG_CFG_OPTIONS + [
    f'model.visual_prompt_bank.source.dataset.data_root={SAMPLE_COCO}'
]
TINY_REFINER = ['model.prompt_refiner.min_area=16']


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _options(options) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


def test_recipe():
    cfg = Config.fromfile(str(DPSEG_DIR / 'dpseg_convnextb_cocostuff.py'))
    m = cfg.model
    assert m.type == 'DPSegEncoderDecoder'
    assert m.backbone.model_name == 'convnext_base_w_320'
    assert m.neck.fusion == 'avg_embed'
    assert m.decode_head.type == 'DPSegCostGuidedHead'
    assert m.decode_head.visual_cost_levels == 'three'
    assert m.decode_head.loss_decode.type == 'CategoryBCELoss'
    assert m.visual_prompt_bank.source.type == 'ExemplarCropPromptSource'
    assert m.prompt_refiner.type == 'DPSegPromptRefiner'
    opt = cfg.optim_wrapper
    assert (opt.optimizer.type, opt.optimizer.lr,
            opt.optimizer.weight_decay) == ('AdamW', 2e-4, 1e-4)
    assert opt.paramwise_cfg.custom_keys.backbone.lr_mult == 0.01
    assert cfg.train_cfg.max_iters == 80000
    assert cfg.train_dataloader.batch_size == 4
    large = Config.fromfile(str(DPSEG_DIR / 'dpseg_convnextl_cocostuff.py'))
    assert large.model.backbone.model_name == \
        large.model.text_encoder.model_name == 'convnext_large_d_320'


def test_ablation_files_match_the_tables():
    rows = {r.config for t in DPSEG_TABLES.values() for r in t.rows}
    assert {f'{DPSEG_ABLATION_DIR}/{p.name}' for p in ABLATION_FILES} == \
        rows - {DPSEG_FULL_CONFIG}
    for table in DPSEG_TABLES.values():
        full = [r for r in table.rows if r.is_full_model]
        assert len(full) == 1 and full[0].changed_keys == ()
        for row in table.rows:
            assert set(row.paper) <= set(table.benchmarks)
    t2, t3 = DPSEG_TABLES['DPSeg-2'], DPSEG_TABLES['DPSeg-3']
    assert t2.row('text only').paper['ade847'] == 10.4
    assert t2.row('visual only').paper['voc20'] == 94.5
    assert t2.row('Avg(T, V)').paper['pc459'] == 19.5
    assert t3.row('+F_v^2').paper == dict(ade847=11.4, ade150=32.1)
    assert t3.row('F_c only').paper == dict(ade847=10.6, ade150=31.6)


def test_ablation_configs_only_override():
    for path in ABLATION_FILES:
        tree = ast.parse(path.read_text())
        names = [t.id for node in tree.body for t in node.targets]
        assert names == ['_base_', 'model'], path.name
        assert ast.literal_eval(tree.body[0].value) == \
            '../dpseg_convnextb_cocostuff.py'


ROWS = {r.config: r for t in DPSEG_TABLES.values() for r in t.rows}


@pytest.mark.parametrize('config', sorted(ROWS))
def test_rows_differ_in_exactly_the_declared_keys(config):
    row = ROWS[config]
    full = Config.fromfile(str(CONFIG_ROOT / DPSEG_FULL_CONFIG)).to_dict()
    cfg = Config.fromfile(str(row.config_path())).to_dict()
    diff = differing_keys(full, cfg)
    declared = set(row.changed_keys)
    assert not {k for k in diff if not _covered(k, declared)}, diff
    assert all(any(_covered(k, {d}) for k in diff) for d in declared)


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[str(p.relative_to(DPSEG_DIR)) for p in CONFIGS])
def test_builds_trains_and_predicts_tiny(path, shared_data):
    cfg = Config.fromfile(str(path))
    options = TINY_DPSEG + (TINY_REFINER if cfg.model.prompt_refiner else [])
    cfg.merge_from_dict(_options(options))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.set_vocabulary(list(TINY_VOCABULARY), 'train')
    model.train()
    data = model.data_preprocessor(random_seg_batch(2, 64, 5), True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_bce'])
    losses['loss_bce'].backward()
    # 'sky' is not a COCO-Stuff name: text only; the others have exemplars
    assert model.visual_prompt_bank.last_num_text_only == 1
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith('visual_prompt_bank') for n in trainable)
    assert not {n for n, p in trainable.items() if p.grad is None}
    for n, p in trainable.items():
        assert torch.isfinite(p.grad).all(), n
    model.eval()
    data = model.data_preprocessor(random_seg_batch(2, 64, 5), False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert out[0].seg_logits.data.shape == (5, 64, 64)
    assert ('dpseg_refined' in out[0]) == (model.prompt_refiner is not None)
