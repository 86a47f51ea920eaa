"""tools/analysis/learning_sanity.py, two iterations on the sample
COCO-Stuff images: every evaluation mode scored, the rows, table, JSON and
plot written; bad training negatives refused before training."""
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    'learning_sanity', REPO / 'tools/analysis/learning_sanity.py')
sanity = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sanity)


@pytest.mark.slow
def test_two_iterations_write_rows_table_and_plot(shared_data, tmp_path,
                                                  capsys):
    out = tmp_path / 'sanity.png'
    rows = sanity.main([
        '--data-root',
        str(shared_data / 'coco_stuff164k'), '--size', '32', '--iters', '2',
        '--eval-interval', '2', '--negatives', '3', '--out',
        str(out), '--head', 'small'
    ])
    assert [r['iter'] for r in rows] == [0, 2]
    for r in rows:
        for mode in sanity.EVAL_MODES:
            assert 0.0 <= r[f'{mode}_aAcc'] <= 100.0, (mode, r)
        assert 0.0 <= r['pixRecall'] <= 100.0 and r['K'] >= 1
    # training rows carry the mean loss and its 1/K-prediction baseline
    assert all(r['loss'] > 0 and r['baseline'] > 0 for r in rows[1:])
    assert json.loads(out.with_suffix('.json').read_text()) == rows
    assert out.stat().st_size > 0
    table = capsys.readouterr().out
    assert '| iter | train min | CPU min | loss_bce |' in table
    assert table.count('\n| 2 |') == 1


def test_bad_negatives_refused_before_training(shared_data, tmp_path):
    with pytest.raises(ValueError, match='train_cfg.negatives'):
        sanity.main([
            '--data-root',
            str(shared_data / 'coco_stuff164k'), '--iters', '1', '--negatives',
            '-1', '--out',
            str(tmp_path / 'x.png')
        ])
