"""MAFT+ checkpoint converter on a random state dict built from the official
key names: CDT and CLIP keys mapped, the rest dropped with reasons, every
key checked against the dcp_mm model, exact round trip, errors, CLI."""
import argparse
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from dcp_mm.models.clip.builder import build_clip_model
from dcp_mm.testing import TINY_MAFTP_CFG_OPTIONS
from dcp_mm.utils.model_converters import (MAFTP_CONVERTER,
                                           check_covered_by_template,
                                           convert_maftp)

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs/maftp/maftp-cdt-rc_convnextb_cocostuff.py'
D = 32


def official_state_dict(d=D):
    """Random tensors under the official MAFT+ key names (tiny CLIP)."""
    torch.manual_seed(0)
    out = {}
    cdt = nn.ModuleDict(
        dict(
            multihead_attn=nn.MultiheadAttention(d, 8),
            norm=nn.LayerNorm(d),
            MLP=nn.Linear(d, d)))
    for k, v in cdt.state_dict().items():
        out[f'cdt.cross_atten.{k}'] = torch.randn_like(v)
    clip = build_clip_model('dcp-tiny-convnext', None, quick_gelu=False)
    for k, v in clip.state_dict().items():
        out[f'backbone.clip_model.{k}'] = torch.randn_like(v)
        out[f'backbone_t.clip_model.{k}'] = torch.randn_like(v)
    out['sem_seg_head.predictor.class_embed.layers.0.weight'] = \
        torch.randn(d, d)
    out['sem_seg_head.pixel_decoder.adapter_1.weight'] = torch.randn(8, 4)
    out['criterion.empty_weight'] = torch.ones(3)
    out['void_embedding.weight'] = torch.randn(1, d)
    return out


def _options(options):
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


@pytest.fixture(scope='module')
def model():
    init_default_scope('mmseg')
    cfg = Config.fromfile(str(CONFIG))
    cfg.merge_from_dict(_options(TINY_MAFTP_CFG_OPTIONS))
    return MODELS.build(cfg.model)


def test_maps_cdt_and_clip_and_loads(model):
    official = official_state_dict()
    state, missing, summary = convert_maftp(official, model.state_dict())
    for name in ('in_proj_weight', 'in_proj_bias', 'out_proj.weight',
                 'out_proj.bias'):
        assert torch.equal(state[f'text_adapter.attn.{name}'],
                           official[f'cdt.cross_atten.multihead_attn.{name}'])
    for src, dst in (('norm', 'norm'), ('MLP', 'proj')):
        for p in ('weight', 'bias'):
            assert torch.equal(state[f'text_adapter.{dst}.{p}'],
                               official[f'cdt.cross_atten.{src}.{p}'])
    # the fine-tuned tower, not the teacher
    key = 'visual.trunk.stem.0.weight'
    assert torch.equal(state[f'backbone.{key}'],
                       official[f'backbone.clip_model.{key}'])
    # the text tower's fused attention is split into q / k / v
    fused = official[
        'backbone.clip_model.transformer.resblocks.0.attn.in_proj_weight']
    assert torch.equal(
        state['text_encoder.text.transformer.resblocks.0.attn.k_proj_weight'],
        fused.chunk(3)[1])
    assert not any(k.startswith(('backbone_t', 'sem_seg_head')) for k in state)
    # only the cost-volume parts MAFT+ has not are left to train
    assert missing and all(
        k.startswith(('neck.', 'decode_head.')) for k in missing)
    assert 'not in the MAFT+ checkpoint' in summary
    assert 'decode_head.' in summary and 'frozen copy' in summary
    result = model.load_state_dict(state, strict=False)
    assert sorted(result.missing_keys) == missing
    assert result.unexpected_keys == []
    assert torch.equal(model.text_adapter.proj.weight,
                       official['cdt.cross_atten.MLP.weight'])


def test_round_trip_exact():
    official = official_state_dict()
    state, report = MAFTP_CONVERTER.convert(official)
    assert report.num_official == len(official)
    assert set(report.dropped) == {
        k
        for k in official
        if k.startswith(('backbone_t.', 'sem_seg_head.', 'criterion.',
                         'void_embedding', 'backbone.clip_model.logit'))
    }
    back = MAFTP_CONVERTER.to_official(state, report.dropped_tensors)
    assert set(back) == set(official)
    for k, v in official.items():
        assert torch.equal(back[k], v), k


def test_errors_name_the_keys(model):
    official = official_state_dict()
    official['cdt.extra.weight'] = torch.zeros(1)
    with pytest.raises(KeyError, match='cdt.extra.weight'):
        MAFTP_CONVERTER.convert(official)
    wrong_d = {
        k: v
        for k, v in official_state_dict(d=64).items() if k.startswith('cdt.')
    }
    state, _ = MAFTP_CONVERTER.convert(wrong_d)
    with pytest.raises(ValueError, match='text_adapter.norm.weight'):
        check_covered_by_template(state, model.state_dict())
    with pytest.raises(ValueError, match='unexpected keys'):
        check_covered_by_template({'foo.weight': torch.zeros(1)},
                                  model.state_dict())


def test_cli(tmp_path, capsys):
    torch.save(dict(model=official_state_dict()), tmp_path / 'maftp.pth')
    cfg = tmp_path / 'tiny.py'
    cfg.write_text(f'_base_ = {str(CONFIG)!r}\n'
                   f'model = dict(pretrained=None, backbone=dict('
                   f"model_name='dcp-tiny-convnext'), text_encoder=dict("
                   f"model_name='dcp-tiny-convnext', templates='single'), "
                   f'text_adapter=dict(embed_dims=32))\n')
    spec = importlib.util.spec_from_file_location(
        '_maftp2dcp', REPO / 'tools/model_converters/maftp2dcp.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    dst = tmp_path / 'out' / 'init.pth'
    assert tool.main(
        [str(tmp_path / 'maftp.pth'),
         str(dst), '--config',
         str(cfg)]) == 0
    out = capsys.readouterr().out
    assert 'dropped' in out and 'saved' in out
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['converter'] == 'MAFT+'
    assert all(
        k.startswith(('neck.', 'decode_head.'))
        for k in ckpt['meta']['not_in_checkpoint'])
    assert tool.main([str(dst), str(dst)]) == 1
    assert 'same file' in capsys.readouterr().err
