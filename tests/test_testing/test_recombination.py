"""The recombination matrix (dcp_mm/apis/recombination.py) on the tiny CLIP:
every combination composes (one training step, one prediction) or is
refused at build time with an error naming both parts."""
import csv
import functools
import importlib.util
from pathlib import Path

import open_clip
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from dcp_mm.structures import CompositionError
from dcp_mm.testing.recombination import (BACKBONES, HEADS, Combination,
                                          combinations, error_gist,
                                          format_matrix, run_matrix,
                                          write_matrix_csv)

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'analysis' / 'build_matrix.py'


@pytest.fixture(scope='module')
def results():
    """The whole matrix, once (one thread: tiny tensors, shared CPU).

    The 144 builds would read open_clip's BPE table 144 times (~0.1 s
    each, most of a refused build): the tokenizer is loaded once here.
    """
    init_default_scope('mmseg')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(open_clip, 'get_tokenizer',
                   functools.lru_cache()(open_clip.get_tokenizer))
        try:
            yield run_matrix()
        finally:
            torch.set_num_threads(threads)


def expected_refusal(c: Combination) -> bool:
    """Every head needs a neck's cost features; the SED head needs the
    ConvNeXt pyramid, the other two heads the ViT block features."""
    sed_head = HEADS[c.head]['type'] == 'SEDGradualFusionHead'
    return c.neck == 'none' or sed_head != (c.backbone == 'ConvNeXt')


def test_combinations_cover_the_grid():
    combos = combinations()
    assert len(combos) == 2 * 3 * 3 * 4 * 2 == len(set(combos))
    assert {c.head for c in combos} == set(HEADS)
    assert {c.tv for c in combos} == {'on', 'off'}


def test_every_combination_composes_or_is_refused(results):
    assert len(results) == len(combinations())
    failed = [(r.combination, r.error) for r in results
              if r.status == 'failed']
    assert not failed, failed
    composing = [r for r in results if r.status == 'composes']
    assert len(composing) > 0
    for r in composing:
        assert r.loss is not None and torch.isfinite(torch.tensor(r.loss))
        assert not expected_refusal(r.combination), r.combination
    refused = [r for r in results if r.status == 'refused']
    assert {r.combination
            for r in refused
            } == {c
                  for c in combinations() if expected_refusal(c)}
    assert len(composing) == 48 and len(refused) == 96


def test_refusals_name_both_parts(results):
    for r in results:
        if r.status != 'refused':
            continue
        c = r.combination
        head = HEADS[c.head]['type']
        sed_head = head == 'SEDGradualFusionHead'
        if sed_head != (c.backbone == 'ConvNeXt'):
            # the first part of the flow that lacks a tensor is named
            other = f'backbone {BACKBONES[c.backbone]["type"]}'
        else:
            other = 'neck None'
        assert r.error.startswith(
            f'cannot compose decode_head {head} with {other}:'), r.error
        assert 'Fix:' in r.error
        assert r.gist.startswith(f'decode_head {head} needs ')
        assert r.gist.endswith(f'from {other}')


def _cfg(backbone='ViT', neck='TGA', head='Spatial Enhanced', update=None):
    """A tiny combination (DCS, TV on); ``update``: part -> changed keys."""
    cfg = Combination(backbone, 'DCS', neck, head, 'on').model_cfg()
    for part, keys in (update or {}).items():
        cfg[part].update(keys)
    return cfg


def refusal(cfg) -> CompositionError:
    """The CompositionError raised when building ``cfg``."""
    init_default_scope('mmseg')
    with pytest.raises(CompositionError) as info:
        MODELS.build(cfg)
    return info.value


def test_refused_pairs_explicitly():
    e = refusal(_cfg(head='SED gradual fusion + CER'))
    assert (e.consumer, e.provider) == ('decode_head SEDGradualFusionHead',
                                        'backbone CLIPViTBackbone')
    assert 'ConvNeXt stage pyramid' in e.need
    assert e.fix.startswith('use CLIPConvNeXtBackbone')
    e = refusal(_cfg('ConvNeXt', head='CAT-Seg upsampling'))
    assert (e.consumer, e.provider) == ('decode_head CATSegUpsampleHead',
                                        'backbone CLIPConvNeXtBackbone')
    assert e.need.startswith('ViT block features at the patch grid')
    e = refusal(_cfg(neck='none'))
    assert (e.consumer, e.provider) == ('decode_head DCPSpatialEnhancedHead',
                                        'neck None')
    assert e.need.startswith('cost features') and 'set model.neck' in e.fix


def test_refused_switches_and_sizes():
    """The specs follow the parts' switches and pin sizes."""
    init_default_scope('mmseg')
    # the attention map only exists with with_attn=True ...
    e = refusal(_cfg(update=dict(backbone=dict(with_attn=False))))
    assert (e.consumer, e.provider) == ('decode_head DCPSpatialEnhancedHead',
                                        'backbone CLIPViTBackbone')
    assert e.need.startswith('the last-block attention map')
    assert e.fix == ('build CLIPViTBackbone with with_attn=True (or set '
                     'decode_head.fuse_attn=False)')
    # ... and is not needed without the attention guidance
    MODELS.build(
        _cfg(
            update=dict(
                backbone=dict(with_attn=False),
                decode_head=dict(fuse_attn=False))))
    # DCP-CLIP's decoder on a ConvNeXt without A and F_s composes
    MODELS.build(
        _cfg(
            'ConvNeXt',
            update=dict(
                decode_head=dict(
                    fuse_attn=False,
                    fuse_shallow_qk=False,
                    fuse_shallow_up=False))))
    e = refusal(
        _cfg(
            neck='CAT-Seg aggregation',
            head='CAT-Seg upsampling',
            update=dict(decode_head=dict(in_channels=32))))
    assert (e.consumer, e.provider) == ('decode_head CATSegUpsampleHead',
                                        'neck CATSegAggregationNeck')
    assert e.need == ('cost features with (d, P) = (32, None), neck '
                      'CATSegAggregationNeck gives (16, 2)')
    e = refusal(_cfg(update=dict(neck=dict(embed_dims=64))))
    assert (e.consumer, e.provider) == ('neck DCPTextGuidedAlignNeck',
                                        'backbone CLIPViTBackbone')
    assert e.need.startswith('D=64 embeddings, backbone CLIPViTBackbone '
                             'gives D=')
    e = refusal(
        _cfg(
            'ConvNeXt',
            head='SED gradual fusion',
            update=dict(decode_head=dict(guidance_in_dims=(8, 8, 8)))))
    assert (e.consumer, e.provider) == ('decode_head SEDGradualFusionHead',
                                        'backbone CLIPConvNeXtBackbone')
    assert e.need.startswith('intermediate feature 2 with 8 channels')


def test_gist():
    msg = ('cannot compose decode_head X with backbone Y: X needs a (one '
           '(B, D)) and b (two [(B, C)]), which backbone Y does not '
           'provide. Fix: do it.')
    assert error_gist(msg) == 'decode_head X needs a and b from backbone Y'
    assert error_gist('something else. Fix: z') == 'something else'


def test_table_csv_and_tool(results, tmp_path, monkeypatch, capsys):
    table = format_matrix(results)
    lines = table.splitlines()
    assert lines[0].startswith('| backbone | selector | neck | head | TV |')
    assert len([x for x in lines if x.startswith('| ')]) == 1 + len(results)
    assert lines[-1] == '144 combinations: 48 composes, 96 refused, 0 failed'
    path = write_matrix_csv(results, tmp_path / 'sub' / 'm.csv')
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(results)
    assert {r['result'] for r in rows} == {'composes', 'refused'}
    assert all(r['error'].startswith('cannot compose') for r in rows
               if r['result'] == 'refused')
    # the CLI, on the results computed above
    spec = importlib.util.spec_from_file_location('build_matrix', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(tool, 'run_matrix', lambda **kw: results)
    out = tmp_path / 'matrix.csv'
    assert tool.main(['--out', str(out), '--quiet']) == 0
    printed = capsys.readouterr().out
    assert '| ConvNeXt | DCS | TGA | SED gradual fusion + CER | on | ' \
           'composes |' in printed
    assert out.is_file()
    with pytest.raises(SystemExit, match='multiple of 32'):
        tool.main(['--size', '48'])
