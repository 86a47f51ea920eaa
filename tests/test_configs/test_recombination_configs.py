"""The recombination configs (configs/recombination): each only overrides a
method's config, has the declared parts, and builds, trains (forward +
backward) and predicts on the tiny CLIP architectures."""
import argparse
import ast
from pathlib import Path

import pytest
import torch
from mmengine.config import Config, DictAction
from mmseg.registry import MODELS

from dcp_mm.testing import TINY_VOCABULARY, random_seg_batch

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs' / 'recombination'
CONFIG_FILES = sorted(CONFIG_DIR.glob('*.py'))

_TINY_COMMON = [
    'model.pretrained=None',
    'model.data_preprocessor.size=(64,64)',
    'model.test_cfg.crop_size=(64,64)',
]
# --cfg-options that shrink each family to the tiny random CLIP at 64 px
TINY_VIT_CATSEG = _TINY_COMMON + [
    'model.backbone.model_name=dcp-tiny',
    'model.backbone.out_indices=(2,3)',
    'model.text_encoder.model_name=dcp-tiny',
    'model.neck.window_size=4',
    'model.neck.pad_len=6',
    'model.test_cfg.stride=(48,48)',
]
TINY_CONVNEXT = _TINY_COMMON + [
    'model.backbone.model_name=dcp-tiny-convnext',
    'model.text_encoder.model_name=dcp-tiny-convnext',
    'model.text_encoder.templates=single',
]
TINY_CONVNEXT_DCP = TINY_CONVNEXT + [
    'model.decode_head.window_size=4',
    'model.test_cfg.stride=(48,48)',
]
TINY_VIT_DCP = _TINY_COMMON + [
    'model.backbone.model_name=dcp-tiny',
    'model.backbone.out_indices=(2,3)',
    'model.text_encoder.model_name=dcp-tiny',
    'model.text_encoder.templates=single',
    'model.decode_head.window_size=4',
    'model.test_cfg.stride=(48,48)',
]
# DPSeg's visual prompt bank: tiny prompts, exemplars of the sample data
SAMPLE_COCO = Path(__file__).resolve().parents[2] / 'demo' / 'data' / \
    'coco_stuff164k'
TINY_BANK = [
    'model.visual_prompt_bank.image_size=(64,64)',
    'model.visual_prompt_bank.num_prompts=2',
    'model.visual_prompt_bank.source.min_area=16',
    f'model.visual_prompt_bank.source.dataset.data_root={SAMPLE_COCO}',
]
TINY_CDT = ['model.text_adapter.embed_dims=32']  # the tiny CLIP's D

# config -> (base config, the parts it must have, tiny --cfg-options,
# trainable parameters expected without gradient)
CATSEG_NO_GRAD = {
    # as CAT-Seg: the last block's q only feeds the [CLS] embedding, which
    # the selector uses without gradient
    'backbone.visual.transformer.resblocks.3.attn.q_proj_weight'
}
EXPECTED = {
    'catseg-dcs_vitb16_cocostuff.py':
    ('../catseg/catseg_vitb16_cocostuff.py',
     dict(
         backbone='CLIPViTBackbone',
         selector='DCPCategorySelector',
         neck='CATSegAggregationNeck',
         decode_head='CATSegUpsampleHead',
         post_processor=None), TINY_VIT_CATSEG, CATSEG_NO_GRAD),
    'catseg-tv_vitb16_cocostuff.py':
    ('../catseg/catseg_vitb16_cocostuff.py',
     dict(
         backbone='CLIPViTBackbone',
         selector='CATSegClassPruning',
         neck='CATSegAggregationNeck',
         decode_head='CATSegUpsampleHead',
         post_processor='DCPTagValidator'), TINY_VIT_CATSEG, CATSEG_NO_GRAD),
    'sed-dcs_convnextb_cocostuff.py': ('../sed/sed_convnextb_cocostuff.py',
                                       dict(
                                           backbone='CLIPConvNeXtBackbone',
                                           selector='DCPCategorySelector',
                                           neck='DCPTextGuidedAlignNeck',
                                           decode_head='SEDGradualFusionHead',
                                           post_processor=None), TINY_CONVNEXT,
                                       set()),
    'dcp-cer_convnextb_cocostuff.py':
    ('../sed/sed_convnextb_cocostuff.py',
     dict(
         backbone='CLIPConvNeXtBackbone',
         selector=None,
         neck='DCPTextGuidedAlignNeck',
         decode_head='SEDGradualFusionHead',
         post_processor='DCPTagValidator'), TINY_CONVNEXT, set()),
    'dcp_convnextb_cocostuff.py': ('../dcp/dcp_vitb16_cocostuff.py',
                                   dict(
                                       backbone='CLIPConvNeXtBackbone',
                                       selector='DCPCategorySelector',
                                       neck='DCPTextGuidedAlignNeck',
                                       decode_head='DCPSpatialEnhancedHead',
                                       post_processor='DCPTagValidator'),
                                   TINY_CONVNEXT_DCP, set()),
    'catseg-cdt_vitb16_cocostuff.py':
    ('../catseg/catseg_vitb16_cocostuff.py',
     dict(
         backbone='CLIPViTBackbone',
         selector='CATSegClassPruning',
         text_adapter='ContentDependentTransfer',
         neck='CATSegAggregationNeck',
         decode_head='CATSegUpsampleHead',
         post_processor=None), TINY_VIT_CATSEG + TINY_CDT, CATSEG_NO_GRAD),
    # RC trains the last block's patch tokens: its q projection now has a
    # gradient
    'catseg-rc_vitb16_cocostuff.py': ('../catseg/catseg_vitb16_cocostuff.py',
                                      dict(
                                          backbone='CLIPViTBackbone',
                                          selector='CATSegClassPruning',
                                          text_adapter=None,
                                          neck='CATSegAggregationNeck',
                                          decode_head='CATSegUpsampleHead',
                                          post_processor=None),
                                      TINY_VIT_CATSEG, set()),
    'dcp-cdt_vitb16_cocostuff.py':
    ('../dcp/dcp_vitb16_cocostuff.py',
     dict(
         backbone='CLIPViTBackbone',
         selector='DCPCategorySelector',
         text_adapter='ContentDependentTransfer',
         neck='DCPTextGuidedAlignNeck',
         decode_head='DCPSpatialEnhancedHead',
         post_processor='DCPTagValidator'), TINY_VIT_DCP + TINY_CDT, set()),
    'dcp-rc_vitb16_cocostuff.py': ('../dcp/dcp_vitb16_cocostuff.py',
                                   dict(
                                       backbone='CLIPViTBackbone',
                                       selector='DCPCategorySelector',
                                       text_adapter=None,
                                       neck='DCPTextGuidedAlignNeck',
                                       decode_head='DCPSpatialEnhancedHead',
                                       post_processor='DCPTagValidator'),
                                   TINY_VIT_DCP, set()),
    'catseg-dualprompt_vitb16_cocostuff.py':
    ('../catseg/catseg_vitb16_cocostuff.py',
     dict(
         backbone='CLIPViTBackbone',
         selector='CATSegClassPruning',
         neck='CATSegAggregationNeck',
         decode_head='CATSegUpsampleHead',
         post_processor=None), TINY_VIT_CATSEG + TINY_BANK, CATSEG_NO_GRAD),
    'dcp-dualprompt_vitb16_cocostuff.py':
    ('../dcp/dcp_vitb16_cocostuff.py',
     dict(
         backbone='CLIPViTBackbone',
         selector='DCPCategorySelector',
         neck='DCPTextGuidedAlignNeck',
         decode_head='DCPSpatialEnhancedHead',
         post_processor='DCPTagValidator'), TINY_VIT_DCP + TINY_BANK, set()),
}
# config -> the auxiliary losses it trains with
AUX_LOSSES = {
    'catseg-rc_vitb16_cocostuff.py': ['RepresentationCompensationLoss'],
    'dcp-rc_vitb16_cocostuff.py': ['RepresentationCompensationLoss'],
}


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    """Tiny tensors: one thread avoids oversubscribing a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _options(options) -> dict:
    """--cfg-options strings -> the dict mmengine merges."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


def _batch(n=2, size=64, vocab=5):
    return random_seg_batch(n, size, vocab)


def test_config_files_match_the_table():
    assert len(CONFIG_FILES) > 0, f'no config in {CONFIG_DIR}'
    assert {p.name for p in CONFIG_FILES} == set(EXPECTED)


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_only_overrides_a_method_config(name):
    """`_base_` = one method's config, then only `model = dict(...)`."""
    tree = ast.parse((CONFIG_DIR / name).read_text())
    assigned = {}
    for node in tree.body:
        assert isinstance(node, ast.Assign), (name, node)
        for target in node.targets:
            assigned[target.id] = node.value
    assert set(assigned) == {'_base_', 'model'}, (name, set(assigned))
    assert ast.literal_eval(assigned['_base_']) == EXPECTED[name][0]


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_parts(name):
    model = Config.fromfile(str(CONFIG_DIR / name)).model
    for part, kind in EXPECTED[name][1].items():
        got = model.get(part)
        assert (got if got is None else got['type']) == kind, (part, got)
    if name.startswith('dcp-cer'):
        assert model.decode_head.cer_topk == 8
        assert model.neck.with_ca and model.neck.with_sa
    if 'dualprompt' in name:
        assert model.type == 'DPSegEncoderDecoder'
        assert model.neck.fusion == 'avg_embed'
        assert model.visual_prompt_bank.type == 'VisualPromptBank'
    if name.startswith('dcp-cdt'):
        assert not model.neck.with_ca and not model.neck.with_sa
        assert model.text_adapter.embed_dims == 512
    assert [a['type'] for a in model.get('aux_losses') or []] == \
        AUX_LOSSES.get(name, [])
    if name.startswith('dcp_convnextb'):
        assert model.backbone.model_name == \
            model.text_encoder.model_name == 'convnext_base_w_320'
        assert not model.decode_head.fuse_attn
        assert not model.decode_head.fuse_shallow_qk
        assert not model.decode_head.fuse_shallow_up


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_builds_trains_and_predicts_tiny(name):
    _, parts, options, no_grad_expected = EXPECTED[name]
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    cfg.merge_from_dict(_options(options))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    for part, kind in parts.items():
        module = getattr(model, part)
        if part == 'selector' and kind is None:  # selector=None: keep all
            kind = 'AllCategoriesSelector'
        assert (module if module is None else type(module).__name__) == \
            kind, part
    model.set_vocabulary(list(TINY_VOCABULARY), 'train')
    model.set_vocabulary(list(TINY_VOCABULARY), 'test')

    model.train()
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode='loss')
    assert ('loss_rc' in losses) == (name in AUX_LOSSES)
    assert [type(a).__name__ for a in model.aux_losses] == \
        AUX_LOSSES.get(name, [])
    loss = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(loss)
    loss.backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    no_grad = {n for n, p in trainable.items() if p.grad is None}
    assert no_grad == no_grad_expected
    for n, p in trainable.items():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), n

    model.eval()
    data = model.data_preprocessor(_batch(), False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert len(out) == 2
    assert out[0].seg_logits.data.shape == (5, 64, 64)
    assert torch.isfinite(out[0].seg_logits.data).all()
    pred = out[0].pred_sem_seg.data
    assert pred.shape == (1, 64, 64) and 0 <= pred.min() and pred.max() < 5
    assert ('tv_relabelled' in out[0]) == (model.post_processor is not None)
