"""Checkpoints that describe their model; strict loads (issue 9, cases 1-2).

On main, another model's checkpoint (or one trained with another template
count) loaded with mmengine's unlogged "do not match exactly" warning, the
unmatched layers stayed random and the evaluation ran to the end.
"""
import copy
import logging

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import HOOKS, MODELS

from dcp_mm.engine import (CheckpointMismatchError, ModelMetaHook,
                           model_checkpoint)
from dcp_mm.engine.model_checkpoint import (MODEL_META_KEY,
                                            check_checkpoint_fits,
                                            checkpoint_model_config,
                                            config_differences,
                                            config_from_checkpoint,
                                            load_model_checkpoint, model_meta)
from dcp_mm.testing import TINY_HEADS, tiny_dcp_model_cfg

SEEN = ['cat', 'dog', 'grass', 'sky', 'car']


def _cfg(**text_encoder):
    cfg = tiny_dcp_model_cfg()
    cfg['text_encoder'] = dict(cfg['text_encoder'], **text_encoder)
    return cfg


def _checkpoint(cfg, vocab=SEEN):
    model = MODELS.build(copy.deepcopy(cfg))
    meta = {MODEL_META_KEY: model_meta(cfg, model, vocab)}
    return model, dict(meta=meta, state_dict=model.state_dict())


def test_meta_describes_the_model():
    cfg = _cfg()
    model, ckpt = _checkpoint(cfg)
    entry = ckpt['meta'][MODEL_META_KEY]
    summary = entry['summary']
    assert summary['num_templates'] == 2 and summary['backbone_model'] == \
        'dcp-tiny'
    assert summary['selector'] == 'DCPCategorySelector'
    assert summary['neck'] == 'DCPTextGuidedAlignNeck'
    assert summary['decode_head'] == 'DCPSpatialEnhancedHead'
    assert summary['num_params'] == sum(p.numel() for p in model.parameters())
    assert entry['train_vocabulary'] == SEEN
    assert checkpoint_model_config(ckpt)['text_encoder']['templates'] == \
        cfg['text_encoder']['templates']
    # the meta loads with weights_only=True (plain Python values)
    torch.save(ckpt['meta'], '/dev/null')


def test_other_template_count_is_an_error_naming_setting_and_fix():
    trained = _cfg(templates='single')  # P = 1, the README quick start
    _, ckpt = _checkpoint(trained)
    model = MODELS.build(_cfg())  # P = 2
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as info:
        load_model_checkpoint(model, ckpt, _cfg(), source='iter_1.pth')
    msg = str(info.value)
    assert 'iter_1.pth' in msg and 'template count' in msg
    assert 'shape mismatch' in msg and 'cost_embed' in msg
    assert "model.text_encoder.templates: checkpoint 'single'" in msg
    assert '--cfg-options model.text_encoder.templates=single' in msg
    assert 'Nothing was loaded' in msg
    for k, v in model.state_dict().items():  # untouched
        assert torch.equal(v, before[k]), k


def test_another_models_checkpoint_is_an_error():
    other = tiny_dcp_model_cfg(
        decode_head=copy.deepcopy(TINY_HEADS['CAT-Seg upsampling']))
    _, ckpt = _checkpoint(other)
    model = MODELS.build(tiny_dcp_model_cfg())
    with pytest.raises(CheckpointMismatchError) as info:
        check_checkpoint_fits(model, ckpt, tiny_dcp_model_cfg())
    msg = str(info.value)
    assert 'another decode_head type' in msg
    assert 'missing keys: decode_head.' in msg
    assert 'shape mismatches: decode_head.' in msg
    assert 'fix: it is another model; give no config' in msg
    assert "model.decode_head.type: checkpoint 'CATSegUpsampleHead'" in msg


def test_without_meta_the_keys_still_decide():
    _, ckpt = _checkpoint(_cfg(templates='single'))
    ckpt['meta'] = {}
    with pytest.raises(CheckpointMismatchError, match='cost_embed'):
        check_checkpoint_fits(MODELS.build(_cfg()), ckpt, _cfg())


def test_exact_checkpoint_loads_and_sets_seen_vocabulary():
    cfg = _cfg()
    src, ckpt = _checkpoint(cfg, vocab=['person', 'tree'])
    torch.manual_seed(1)
    model = MODELS.build(cfg)
    model.train_vocabulary = None
    load_model_checkpoint(model, ckpt, cfg)
    assert model.train_vocabulary == ['person', 'tree']
    for k, v in src.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k


def test_old_checkpoint_with_extra_state_still_loads():
    """Before, the seen vocabulary rode in the segmentor's _extra_state."""
    cfg = _cfg()
    src, ckpt = _checkpoint(cfg)
    state = dict(ckpt['state_dict'])
    state['_extra_state'] = dict(train_vocabulary=['wall', 'floor'])
    old = dict(
        meta={}, state_dict={
            f'module.{k}': v
            for k, v in state.items()
        })
    model = MODELS.build(cfg)
    model.train_vocabulary = None
    load_model_checkpoint(model, old, cfg)
    assert model.train_vocabulary == ['wall', 'floor']
    assert '_extra_state' not in old['state_dict']
    assert '_extra_state' not in model.state_dict()
    for k, v in src.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k


def _logged(monkeypatch):
    logged = []
    monkeypatch.setattr(model_checkpoint, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw)))
    return logged


def test_partial_load_is_explicit_and_logs_a_table(monkeypatch):
    _, ckpt = _checkpoint(_cfg(templates='single'))
    model = MODELS.build(_cfg())
    logged = _logged(monkeypatch)
    check_checkpoint_fits(model, ckpt, _cfg(), strict=False)
    assert len(logged) == 1 and logged[0][1]['level'] == logging.WARNING
    text = logged[0][0]
    assert 'partial load' in text and 'shape mismatch (keep their init)' in \
        text
    assert 'cost_embed' in text


def test_same_weights_other_settings_warn(monkeypatch):
    cfg = _cfg()
    _, ckpt = _checkpoint(cfg)
    other = _cfg(templates=['a {}.', 'the {}.'])  # P = 2 too
    logged = _logged(monkeypatch)
    load_model_checkpoint(MODELS.build(other), ckpt, other, source='c.pth')
    assert len(logged) == 1 and 'c.pth loads exactly' in logged[0][0]
    assert 'model.text_encoder.templates' in logged[0][0]
    assert config_differences(cfg, cfg) == []


def test_hook_saves_meta_and_checks_loads(tmp_path):
    cfg = _cfg()
    model = MODELS.build(cfg)
    model.train_vocabulary = list(SEEN)

    runner = object.__new__(Runner)  # the attributes the hook reads
    runner.model = model
    runner.cfg = Config(dict(model=cfg))
    runner._load_from = 'x.pth'
    hook = HOOKS.build(dict(type='ModelMetaHook'))
    assert isinstance(hook, ModelMetaHook)
    ckpt = dict(meta=dict(iter=3), state_dict=model.state_dict())
    hook.before_save_checkpoint(runner, ckpt)
    assert ckpt['meta'][MODEL_META_KEY]['train_vocabulary'] == SEEN
    assert ckpt['meta']['iter'] == 3
    hook.after_load_checkpoint(runner, ckpt)  # fits: nothing raised
    runner.model = MODELS.build(_cfg(templates='single'))
    runner.cfg = Config(dict(model=_cfg(templates='single')))
    with pytest.raises(CheckpointMismatchError, match='x.pth'):
        hook.after_load_checkpoint(runner, ckpt)
    runner.cfg.partial_load = True  # explicit opt-in
    hook.after_load_checkpoint(runner, ckpt)

    class Flexible:  # FlexibleRunner (FSDP / DeepSpeed): keys not compared
        pass

    flexible = Flexible()
    flexible.model = MODELS.build(_cfg(templates='single'))
    hook.after_load_checkpoint(flexible, ckpt)
    assert flexible.model.train_vocabulary == SEEN


def test_config_from_checkpoint(tmp_path):
    cfg = _cfg(templates='single')
    _, ckpt = _checkpoint(cfg)
    full = Config(dict(model=dict(cfg, pretrained='openai'), work_dir='w'))
    ckpt['meta']['cfg'] = full.pretty_text
    path = tmp_path / 'iter_1.pth'
    torch.save(ckpt, path)
    got = config_from_checkpoint(str(path))
    assert got.model.text_encoder.templates == 'single'
    assert got.model.pretrained is None and got.load_from == str(path)
    torch.save(dict(state_dict={}, meta={}), tmp_path / 'bare.pth')
    with pytest.raises(ValueError, match='holds no config'):
        config_from_checkpoint(str(tmp_path / 'bare.pth'))


def test_tta_wrapper_is_checked_and_loaded_through_mmengine():
    """tools/test.py --tta wraps the segmentor (keys 'module.<key>'):
    mmengine's loader strips one 'module.' from the checkpoint's keys."""
    from mmengine.runner.checkpoint import _load_checkpoint_to_model
    cfg = _cfg()
    src, ckpt = _checkpoint(cfg)
    tta = MODELS.build(dict(type='SegTTAModel', module=cfg))
    check_checkpoint_fits(tta, ckpt, cfg)
    _load_checkpoint_to_model(tta, ckpt, strict=True)
    for k, v in src.state_dict().items():
        assert torch.equal(tta.module.state_dict()[k], v), k
    _, other = _checkpoint(_cfg(templates='single'))
    with pytest.raises(CheckpointMismatchError, match='template count'):
        check_checkpoint_fits(
            MODELS.build(dict(type='SegTTAModel', module=cfg)), other, cfg)
