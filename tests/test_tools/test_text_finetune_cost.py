"""tools/analysis/text_finetune_cost.py: the linear fit against a hand
computation, and a run on the tiny CLIP (one process per measurement)."""
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    'text_finetune_cost', REPO / 'tools/analysis/text_finetune_cost.py')
cost = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cost)


def test_fit_extrapolates_a_line():
    # time = 1 + 2 n s, memory = 500 n MB, measured at n = 1, 2, 4
    measured = [
        dict(
            categories=n,
            templates=80,
            step_s=1 + 2 * n,
            peak_extra_MB=500 * n) for n in (1, 2, 4)
    ]
    rows = cost.fit_rows(measured, [('selected', 29), ('all', 171)])
    assert [r['prompts'] for r in rows] == [29 * 80, 171 * 80]
    assert rows[0]['step_s'] == pytest.approx(59.0)
    assert rows[1]['peak_extra_MB'] == pytest.approx(85500.0)


@pytest.mark.slow
def test_tiny_run_measures_growing_prompt_counts(capsys):
    rows = cost.main([
        '--model', 'dcp-tiny', '--categories', '1', '3', '--repeats', '1',
        '--selected', '5', '--vocabulary', '10'
    ])
    measured = [r for r in rows if r['what'] == 'measured']
    assert [r['prompts'] for r in measured] == [80, 240]
    assert all(r['step_s'] > 0 for r in measured)
    # three times the prompts hold more activations for the backward
    assert measured[1]['peak_extra_MB'] > measured[0]['peak_extra_MB']
    assert [r['categories'] for r in rows[2:]] == [5, 10]
    assert '| full vocabulary (extrapolated) | 10 | 800 |' in \
        capsys.readouterr().out
