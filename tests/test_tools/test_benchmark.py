"""tools/analysis/benchmark.py, quick run on the tiny random CLIP: every
table filled, fixed K honoured, cached vocabulary runs no text forward,
truncated context equals the full one."""
import importlib.util
from pathlib import Path

import pytest

from dcp_mm.testing import TINY_CFG_OPTIONS, TINY_MAFTP_CFG_OPTIONS

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    'benchmark', REPO / 'tools/analysis/benchmark.py')
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

SMALL_HEAD = [
    'model.neck.cost_dims=16', 'model.neck.guidance_dims=16',
    'model.neck.sa_patch_dims=8', 'model.neck.num_heads=2',
    'model.decode_head.in_channels=16', 'model.decode_head.channels=4',
    'model.decode_head.decoder_dims=(8,4)',
    'model.decode_head.shallow_dims=(4,2)',
    'model.decode_head.shallow_up_dims=(8,4)',
    'model.decode_head.cost_guidance_dims=(4,2)',
    'model.decode_head.num_heads=2'
]


def test_quick_benchmark_run(tmp_path):
    out = tmp_path / 'bench'
    rows = bench.main([
        str(REPO / 'configs/dcp/dcp_vitb16_cocostuff.py'), '--names', 'dcp',
        '--vocab-sizes', '20', '--variants', 'tau=0', 'k=2', '--img-size',
        '64', '--repeats', '1', '--warmup', '0', '--train', '--train-variants',
        'tau=0', 'k=2', '--text', '--text-prompts', '8', '--profile', '20:k=2',
        '--out-dir',
        str(out), '--cfg-options', *TINY_CFG_OPTIONS, *SMALL_HEAD
    ])
    infer = {r['variant']: r for r in rows['inference']}
    assert infer['tau=0']['K'] == 20 and infer['k=2']['K'] == 2
    assert infer['tau=0']['GFLOPs'] > infer['k=2']['GFLOPs'] > 0
    assert infer['k=2']['params_M'] > infer['k=2']['learnable_M'] > 0
    text = rows['text'][0]
    assert text['cold_forwards'] >= 1 and text['cached_forwards'] == 0
    assert text['max_abs_diff'] < 1e-4  # truncation is exact
    train = {r['variant']: r for r in rows['training']}
    assert train['tau=0']['K'] == 171
    assert train['k=2']['K'] < 171  # top-2 + ground-truth categories
    for name in ('benchmark.md', 'benchmark.png', 'inference.csv',
                 'training.csv', 'text.csv', 'profile_dcp_T20_k2.txt'):
        assert (out / name).is_file(), name


def test_maftp_plugins_run(tmp_path, capsys):
    """CDT alone at K = 16 / T = 150 and the RC step with / without, on the
    tiny ConvNeXt CLIP (D = 32); the stage profile times the adapter."""
    out = tmp_path / 'plugins'
    rows = bench.main([
        str(REPO / 'configs/maftp/maftp-cdt-rc_convnextb_cocostuff.py'),
        '--names', 'maftp', '--no-inference', '--plugins', '--img-size', '64',
        '--vocab-sizes', '20', '--profile', '20', '--repeats', '1', '--warmup',
        '0', '--out-dir',
        str(out), '--cfg-options', *TINY_MAFTP_CFG_OPTIONS
    ])
    cdt = {r['K']: r for r in rows['cdt']}
    assert sorted(cdt) == [16, 150]
    d = 32
    assert cdt[16]['params_M'] == round((5 * d * d + 7 * d) / 1e6, 3)
    assert cdt[16]['grid'] == '2x2'
    # one query per synonym slot (per_template=True in the MAFT+ config)
    assert cdt[150]['queries'] == 150 * cdt[150]['P']
    assert cdt[150]['GFLOPs'] > cdt[16]['GFLOPs'] > 0
    (rc, ) = rows['rc']
    assert rc['T'] == 20 and rc['teacher_ms'] > 0
    assert rc['iter_ms'] > 0 and rc['iter_ms_without'] > 0
    assert rc['added_ms'] == pytest.approx(
        rc['iter_ms'] - rc['iter_ms_without'], abs=0.11)
    text = (out / 'benchmark.md').read_text()
    assert 'Content-Dependent Transfer' in text
    assert 'Representation Compensation' in text
    stages = [
        line for line in capsys.readouterr().out.splitlines()
        if 'stages (ms) maftp' in line
    ]
    assert len(stages) == 1 and 'text_adapter=' in stages[0]
    for name in ('plugins_cdt.csv', 'plugins_rc.csv'):
        assert (out / name).is_file(), name


def test_text_finetune_rows(tmp_path):
    rows = bench.main([
        str(REPO / 'configs/dcp/dcp_vitb16_cocostuff.py'), '--names', 'dcp',
        '--no-inference', '--text-finetune', '--img-size', '64', '--repeats',
        '1', '--warmup', '0', '--train-batch', '2', '--out-dir',
        str(tmp_path), '--cfg-options', *TINY_CFG_OPTIONS, *SMALL_HEAD
    ])['text_finetune']
    by_mode = {r['text_finetune']: r for r in rows}
    assert set(by_mode) == set(bench.TEXT_FT_MODES)
    p = by_mode['frozen']['P']
    assert by_mode['frozen']['prompts_with_grad'] == 0
    assert by_mode['full-vocabulary']['prompts_with_grad'] == 171 * p
    assert 0 < by_mode['selected-only']['prompts_with_grad'] < 171 * p
    assert (tmp_path / 'text_finetune.csv').is_file()


def test_table2_flag(tmp_path):
    rows = bench.main(['--table2', '--out-dir', str(tmp_path)])['table2']
    assert [r['model'] for r in rows][:3] == [
        'CAT-Seg ViT-L/14@336', 'SED ConvNeXt-L', 'DCP-CLIP ViT-L/14@336'
    ]
    assert (tmp_path / 'table2.md').is_file()


def test_bad_arguments():
    with pytest.raises(SystemExit):
        bench.parse_args([])
    cfg = str(REPO / 'configs/dcp/dcp_vitb16_cocostuff.py')
    with pytest.raises(SystemExit):
        bench.parse_args([cfg, '--vocab-sizes', '21'])
    with pytest.raises(SystemExit):
        bench.parse_args([cfg, '--variants', 'kk=3'])
    with pytest.raises(SystemExit):
        bench.parse_args(['missing.py'])
    with pytest.raises(ValueError, match='vocabulary of size'):
        bench.vocabulary(7)
