"""tools/analysis/benchmark.py --dpseg on the tiny ConvNeXt CLIP: the bank
is timed and hits its cache on a repeated vocabulary, both latencies are
reported, the decoder GFLOPs grow with K; SED fills the decoder
columns only."""
import importlib.util
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    'benchmark_dpseg', REPO / 'tools/analysis/benchmark.py')
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
sys.path.insert(0, str(REPO / 'tests' / 'test_configs'))
from test_dpseg_configs import TINY_DPSEG, TINY_REFINER  # noqa: E402

TINY_CONVNEXT = TINY_DPSEG[:6]
DPSEG = str(REPO / 'configs/dpseg/dpseg_convnextb_cocostuff.py')
SED = str(REPO / 'configs/sed/sed_convnextb_cocostuff.py')


def _run(config, tmp_path, options, k=4):
    return bench.main([
        config, '--names', 'x', '--no-inference', '--dpseg',
        '--dpseg-vocab-size', '20', '--dpseg-decoder-k',
        str(k), '--img-size', '64', '--repeats', '1', '--warmup', '0',
        '--out-dir',
        str(tmp_path), '--cfg-options', *options
    ])['dpseg'][0]


def test_dpseg_rows(tmp_path, shared_data):
    row = _run(DPSEG, tmp_path, TINY_DPSEG + TINY_REFINER)
    assert row['bank_ms_per_category'] > 0
    assert row['bank_repeat_forwards'] == 0
    # timings are reported, never compared (house rule)
    assert row['refined_latency_ms'] > 0 and row['latency_ms'] > 0
    assert math.isclose(
        row['refine_overhead'],
        row['refined_latency_ms'] / row['latency_ms'],
        abs_tol=0.01)
    assert row['decoder_K'] == 4 and row['decoder_GFLOPs'] > 0
    assert (tmp_path / 'dpseg.csv').is_file()
    assert 'DPSeg (visual prompts' in (tmp_path / 'benchmark.md').read_text()
    wider = _run(DPSEG, tmp_path, TINY_DPSEG + TINY_REFINER, k=8)
    assert wider['decoder_GFLOPs'] > row['decoder_GFLOPs']  # FLOPs, exact


def test_sed_row_has_decoder_columns_only(tmp_path):
    row = _run(SED, tmp_path, TINY_CONVNEXT)
    assert math.isnan(row['bank_ms_per_category'])
    assert math.isnan(row['refined_latency_ms'])
    assert row['decoder_K'] == 4 and row['decoder_GFLOPs'] > 0


def test_bad_dpseg_arguments():
    with pytest.raises(SystemExit):
        bench.parse_args([DPSEG, '--dpseg-vocab-size', '21'])
    with pytest.raises(SystemExit):
        bench.parse_args([DPSEG, '--dpseg-decoder-k', '0'])
