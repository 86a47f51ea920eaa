"""Official CAT-Seg / SED checkpoint converters (tools/model_converters).

The official key lists and shapes come from
``tests/data/official_checkpoint_keys.md`` (read from the official
modules): a random
official state dict is built from that table, converted, loaded with
``strict=True`` into the dcp_mm model of the config, and converted back.
ViT-L / ConvNeXt-L are checked at key and shape level (meta device).
"""
import math
import pickle
import re
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS

from dcp_mm.utils.model_converters import (CATSEG_CONVERTER, SED_CONVERTER,
                                           load_official_checkpoint,
                                           model_template, swin_shift_mask)
from dcp_mm.utils.model_converters.cli import run

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / 'configs'
DOC = REPO_ROOT / 'tests' / 'data' / 'official_checkpoint_keys.md'
assert DOC.is_file(), f'{DOC} (the official key tables) is missing'
CLIP = 'sem_seg_head.predictor.clip_model.'
HEAD = 'sem_seg_head.predictor.transformer.'
Shapes = Dict[str, Tuple[int, ...]]

_NUMBERED = re.compile(r'^\| (\d+) \| `([^`]+)` \| \(([^)]*)\) \|')
_PATTERN = re.compile(r'^\| `([^`]+)` \| \(([^)]*)\) \| (\d+) \|$')
_PLAIN = re.compile(r'^\| `([^`]+)` \| \(([^)]*)\) \| [^|]*\|$')


def _shape(text: str) -> Tuple[int, ...]:
    return tuple(int(s) for s in text.split(',') if s.strip())


def _doc_keys(section: str, visual_blocks: int = 0) -> Shapes:
    """Official keys and shapes of doc section '1' (CAT-Seg) or '2' (SED).

    ``visual_blocks`` > 0 overrides the count of ``visual.*.N.*`` patterns
    (ViT-L: 24 blocks, same key names).
    """
    text = DOC.read_text()
    body = text.split(f'\n## {section}. ')[1].split('\n## ')[0]
    keys: Shapes = {}
    for line in body.splitlines():
        m = _NUMBERED.match(line)
        if m:
            keys[HEAD + m[2]] = _shape(m[3])
            continue
        m = _PATTERN.match(line)
        if m:
            key, shape, count = m[1], _shape(m[2]), int(m[3])
            if visual_blocks and key.startswith('visual.') and '.N.' in key:
                count = visual_blocks
            var = '.N.' if '.N.' in key else '.M.' if '.M.' in key else None
            for n in range(count if var else 1):
                k = key.replace(var, f'.{n}.') if var else key
                keys[CLIP + k] = shape
            continue
        m = _PLAIN.match(line)
        if m:  # CATSeg.upsample1/2, outside the predictor
            keys[m[1]] = _shape(m[2])
    return keys


def _random_official(shapes: Shapes) -> Dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    out = {}
    for key, shape in shapes.items():
        if key.endswith('attn_mask'):  # derived buffer: the real mask
            out[key] = swin_shift_mask(24, 12)
        else:
            out[key] = torch.randn(shape, generator=gen)
    return out


def _build(config: str) -> torch.nn.Module:
    cfg = Config.fromfile(CONFIG_DIR / config)
    cfg.model.pretrained = None
    return MODELS.build(cfg.model)


CASES = {
    'catseg':
    dict(
        converter=CATSEG_CONVERTER,
        section='1',
        config='catseg/catseg_vitb16_cocostuff.py',
        large='catseg/catseg_vitl14_cocostuff.py',
        num_head=130,
        num_clip=350,
        dropped={
            CLIP + 'logit_scale',
            HEAD + 'layers.0.swin_block.block_2.attn_mask',
            HEAD + 'layers.1.swin_block.block_2.attn_mask'
        }),
    'sed':
    dict(
        converter=SED_CONVERTER,
        section='2',
        config='sed/sed_convnextb_cocostuff.py',
        large='sed/sed_convnextl_cocostuff.py',
        num_head=115,
        num_clip=493,
        dropped={CLIP + 'logit_scale'}),
}


@pytest.fixture(scope='module', params=sorted(CASES))
def converted(request):
    """(case, official state dict, converted, report, dcp_mm model)."""
    case = CASES[request.param]
    shapes = _doc_keys(case['section'])
    official = _random_official(shapes)
    model = _build(case['config'])
    state_dict, report = case['converter'].convert(official,
                                                   model.state_dict())
    yield case, official, state_dict, report, model
    del official, state_dict, model


def test_doc_key_counts():
    """The parsed doc tables hold the documented numbers of keys."""
    text = DOC.read_text()
    totals = [int(n) for n in re.findall(r'Total entries: (\d+)', text)]
    assert totals == [CASES['catseg']['num_head'], CASES['sed']['num_head']]
    for case in CASES.values():
        keys = _doc_keys(case['section'])
        head = [k for k in keys if k.startswith(HEAD)]
        clip = [k for k in keys if k.startswith(CLIP)]
        assert len(head) == case['num_head']
        assert len(clip) == case['num_clip']
    assert len(_doc_keys('1')) == 130 + 350 + 4  # + upsample1/2


def test_every_key_mapped_and_loads_strict(converted):
    case, official, state_dict, report, model = converted
    # every official key of the doc is mapped or dropped with a reason
    assert set(report.mapped) | set(report.dropped) == set(official)
    assert set(report.dropped) == case['dropped']
    assert all(report.dropped.values())
    # shapes equal to the dcp_mm model's, strict load, values arrive
    reference = model.state_dict()
    assert set(state_dict) == set(reference)
    for key, value in state_dict.items():
        assert value.shape == reference[key].shape, key
    model.load_state_dict(state_dict, strict=True)
    loaded = model.state_dict()
    for key, value in state_dict.items():
        assert torch.equal(loaded[key], value), key


def test_round_trip_exact(converted):
    case, official, state_dict, report, _ = converted
    converter = case['converter']
    back = converter.to_official(state_dict, dropped=report.dropped_tensors)
    assert set(back) == set(official)
    for key, value in official.items():
        assert torch.equal(back[key], value), key
    # without the dropped tensors: derived masks exact, logit scale ln(100)
    regenerated = converter.to_official(state_dict)
    for key in case['dropped']:
        if key.endswith('attn_mask'):
            assert torch.equal(regenerated[key], official[key])
        else:
            assert regenerated[key].item() == pytest.approx(math.log(100))


def test_fused_qkv_split(converted):
    case, official, state_dict, _, _ = converted
    key = CLIP + 'transformer.resblocks.0.attn.'
    dcp = 'text_encoder.text.transformer.resblocks.0.attn.'
    if case['converter'] is SED_CONVERTER:  # open_clip: fused weight
        q, k, v = official[key + 'in_proj_weight'].chunk(3)
    else:  # CAT-Seg's model_vpt: split weights
        q, k, v = (official[key + f'{n}_proj_weight'] for n in 'qkv')
    for name, ref in zip('qkv', (q, k, v)):
        assert torch.equal(state_dict[dcp + f'{name}_proj_weight'], ref)


@pytest.mark.parametrize('name', sorted(CASES))
def test_large_variants_keys_and_shapes(name):
    """ViT-L / ConvNeXt-L on the meta device: all keys, all shapes."""
    case = CASES[name]
    converter = case['converter']
    template = model_template(str(CONFIG_DIR / case['large']))
    official = converter.to_official(template)
    state_dict, report = converter.convert(official, template)
    assert set(state_dict) == set(template)
    assert set(report.dropped) == case['dropped']
    if name == 'catseg':  # same names as ViT-B, 24 visual blocks
        assert set(official) == set(_doc_keys('1', visual_blocks=24))
        w = official[CLIP + 'visual.conv1.weight'].shape[0]
        assert w == 1024 and official['upsample1.weight'].shape[0] == 1024


def _mini(converter) -> Dict[str, torch.Tensor]:
    """A few official keys (no template check)."""
    if converter is CATSEG_CONVERTER:
        return {HEAD + 'conv1.weight': torch.zeros(128, 1, 7, 7)}
    return {HEAD + 'decoder1.cnext.dwconv.weight': torch.zeros(128, 1, 9, 9)}


def test_errors_name_the_keys():
    template = model_template(str(CONFIG_DIR / CASES['catseg']['config']))
    official = CATSEG_CONVERTER.to_official(template)
    # unknown official key
    bad = dict(official, **{HEAD + 'extra.weight': torch.zeros(1)})
    with pytest.raises(KeyError, match='transformer.extra.weight'):
        CATSEG_CONVERTER.convert(bad, template)
    # shape mismatch (a P = 2 checkpoint for the P = 1 config)
    bad = dict(official, **{HEAD + 'conv1.weight': torch.zeros(128, 2, 7, 7)})
    with pytest.raises(ValueError, match=r'neck\.cost_embed\.weight .*conv1'):
        CATSEG_CONVERTER.convert(bad, template)
    # missing official tensor
    bad = dict(official)
    del bad['upsample2.bias']
    with pytest.raises(ValueError, match=r'decode_head\.shallow_up\.1\.bias'):
        CATSEG_CONVERTER.convert(bad, template)
    # a Swin mask dcp_mm would not recompute
    key = HEAD + 'layers.0.swin_block.block_2.attn_mask'
    bad = dict(official, **{key: torch.zeros(4, 144, 144)})
    with pytest.raises(ValueError, match='attn_mask'):
        CATSEG_CONVERTER.convert(bad)
    bad = dict(official, **{key: swin_shift_mask(16, 8)})  # window 8
    with pytest.raises(ValueError, match='window 8'):
        CATSEG_CONVERTER.convert(bad)
    # dcp_mm key without an official counterpart
    with pytest.raises(KeyError, match='neck.unknown'):
        SED_CONVERTER.to_official({'neck.unknown': torch.zeros(1)})


def test_key_level_mapping():
    assert SED_CONVERTER.match_official(
        HEAD + 'decoder2.cnext.pwconv1.weight')[1] == (
            'decode_head.blocks.1.cnext.mlp.fc1.weight')
    assert CATSEG_CONVERTER.match_official(
        HEAD + 'decoder2.conv.double_conv.4.bias')[1] == (
            'decode_head.up_blocks.1.convs.1.gn.bias')
    assert CATSEG_CONVERTER.official_key(
        'neck.layers.1.class_attention.mlp.fc2.weight') == (
            HEAD + 'layers.1.attention.MLP.2.weight')


def test_load_pkl_numpy_and_refuse_globals(tmp_path):
    arrays = {k: v.numpy() for k, v in _mini(CATSEG_CONVERTER).items()}
    path = tmp_path / 'model.pkl'
    with open(path, 'wb') as f:
        pickle.dump({'model': arrays, '__author__': 'x'}, f)
    loaded = load_official_checkpoint(str(path))
    key = HEAD + 'conv1.weight'
    assert isinstance(loaded[key], torch.Tensor)
    assert loaded[key].shape == (128, 1, 7, 7)
    # numpy arrays inside a torch.save file (weights_only allow-list)
    torch.save({'model': arrays, 'iteration': 3}, tmp_path / 'np.pth')
    loaded = load_official_checkpoint(str(tmp_path / 'np.pth'))
    assert torch.equal(loaded[key], torch.zeros(128, 1, 7, 7))
    with open(tmp_path / 'evil.pkl', 'wb') as f:
        pickle.dump({'model': arrays, 'x': np.testing.assert_equal}, f)
    with pytest.raises(pickle.UnpicklingError, match='refusing'):
        load_official_checkpoint(str(tmp_path / 'evil.pkl'))


@pytest.mark.parametrize('converted', ['catseg'], indirect=True)
def test_cli_converts_and_mmengine_loads(converted, tmp_path, capsys):
    """The tool on a detectron2-style file; mmengine loads the output."""
    case, official, _, _, model = converted
    src, dst = tmp_path / 'model_final.pth', tmp_path / 'out' / 'dcp.pth'
    torch.save({'model': official, 'iteration': 80000}, src)
    assert run(CATSEG_CONVERTER, str(CONFIG_DIR), [str(src), str(dst)]) == 0
    assert 'catseg_vitb16_cocostuff.py' in capsys.readouterr().out
    ckpt = load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    assert set(ckpt['meta']['dropped_keys']) == case['dropped']
    # the converted checkpoint describes its model (seen classes, config)
    described = ckpt['meta']['dcp_model']
    assert described['train_vocabulary'][0] == 'person'
    assert len(described['train_vocabulary']) == 171
    assert described['summary']['decode_head'] == 'CATSegUpsampleHead'
    assert 'cfg' in ckpt['meta']
    key = HEAD + 'head.weight'
    assert torch.equal(model.decode_head.conv_seg.weight, official[key])
    # failures: a message naming the problem, exit code 1
    torch.save({'model': _mini(SED_CONVERTER)}, src)
    assert run(CATSEG_CONVERTER, str(CONFIG_DIR), [str(src), str(dst)]) == 1
    assert 'visual.conv1.weight' in capsys.readouterr().err
