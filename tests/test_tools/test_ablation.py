"""tools/ablation.py and dcp_mm/evaluation/ablation_tables.py: the table
definitions,
the markdown / CSV layout (checked by hand), checkpoint discovery, the
missing-checkpoint error, and one real run of Table VII on the tiny CLIP
(2 training iterations per row, VOC-20 sample image)."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dcp_mm.evaluation.ablation_tables import (TABLES, AblationRow,
                                               find_checkpoint, format_table,
                                               format_table_csv, get_table,
                                               write_table)
from dcp_mm.evaluation.zero_shot import BENCHMARKS
from dcp_mm.testing import TINY_CFG_OPTIONS

REPO_ROOT = Path(__file__).resolve().parents[2]
ABLATION_PY = REPO_ROOT / 'tools' / 'ablation.py'
TABLE_I = dict(ade847=12.3, pc459=19.7, ade150=32.4, pc59=58.1, voc20=95.9)


def _load_tool():
    spec = importlib.util.spec_from_file_location('_tool_ablation',
                                                  ABLATION_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------ definitions
def test_tables_are_complete():
    # configs/{dcp,dpseg,maftp}/metafile.yaml, in folder order
    assert list(TABLES) == [
        'III', 'IV', 'V', 'VIa', 'VIb', 'VIc', 'VII', 'DPSeg-2', 'DPSeg-3',
        'MAFTP'
    ]
    sizes = {k: len(t.rows) for k, t in TABLES.items()}
    assert sizes == {
        'III': 6,
        'IV': 4,
        'V': 3,
        'VIa': 2,
        'VIb': 3,
        'VIc': 4,
        'VII': 5,
        'DPSeg-2': 6,
        'DPSeg-3': 5,
        'MAFTP': 4
    }
    # DPSeg's tables: tests/test_configs/test_dpseg_configs.py
    for key, table in TABLES.items():
        if key.startswith('DPSeg'):
            continue
        assert table.key == key
        assert set(table.benchmarks) <= set(BENCHMARKS), key
        labels = [r.label for r in table.rows]
        assert len(set(labels)) == len(labels), key
        full = [r for r in table.rows if r.is_full_model]
        assert len(full) == 1, key
        for row in table.rows:
            assert row.config_path().is_file(), (key, row.config)
            assert row.full_config == full[0].config, (key, row.label)
            if key == 'MAFTP':  # MAFT+'s ablation: not retrievable, empty
                assert row.paper == {} and row.paper_extra == {}
            else:
                assert set(row.paper) == set(table.benchmarks), (key,
                                                                 row.label)
                assert set(row.paper_extra) == set(table.extra_columns)
            assert all(0 < v < 100 for v in row.paper.values())
            assert bool(row.changed_keys) != row.is_full_model, row.label
        if key != 'MAFTP':
            # the full model's row repeats Table I (ViT-B/16)
            assert full[0].paper == {b: TABLE_I[b] for b in table.benchmarks}


def test_maftp_table_rows_and_empty_paper_cells():
    table = TABLES['MAFTP']
    assert [r.label for r in table.rows] == ['none', '+CDT', '+RC', '+CDT+RC']
    assert {
        r.label: r.changed_keys
        for r in table.rows
    } == {
        'none': ('model.text_adapter', 'model.aux_losses'),
        '+CDT': ('model.aux_losses', ),
        '+RC': ('model.text_adapter', ),
        '+CDT+RC': (),
    }
    assert table.rows[-1].config == \
        'maftp/maftp-cdt-rc_convnextb_cocostuff.py'
    lines = format_table(
        table, {
            '+RC': dict(ade150=1.0)
        }, ['ade150'], paper=True).splitlines()
    assert lines[6] == ('| +RC         | maftp-nocdt_convnextb_cocostuff  '
                        '|  1.00 |             - |')
    csv_text = format_table_csv(table, {}, ['ade150'], paper=True)
    assert csv_text.splitlines()[1] == \
        'none,maftp-none_convnextb_cocostuff,,'


def test_paper_numbers_spot_checks():
    """A few numbers against the paper's tables, one per table."""
    assert TABLES['III'].row('baseline').paper['ade847'] == 7.1
    assert TABLES['III'].row('+DCS+TGA+SED').paper['voc20'] == 95.7
    assert TABLES['IV'].row('SA').paper['ade150'] == 32.1
    assert TABLES['V'].row('w/o s_c and p').paper['pc59'] == 57.0
    assert TABLES['VIa'].row('none').paper['pc459'] == 18.1
    assert TABLES['VIb'].row('0').paper['ade847'] == 11.4
    assert TABLES['VIc'].row('+C_0').paper['ade150'] == 32.1
    tau0 = TABLES['VII'].row('0')
    assert tau0.paper == dict(ade847=12.4, ade150=32.5, voc20=95.2)
    assert tau0.paper_extra == dict(
        train_mem_gib=20.1, train_min=869.5, infer_s=0.51)
    assert [r.label for r in TABLES['VII'].rows] == \
        ['0.9', '0.8', '0.5', '0.2', '0']


def test_unknown_table_and_row():
    with pytest.raises(ValueError, match='valid tables: III, IV'):
        get_table('VI')
    with pytest.raises(ValueError, match="no row 'x'"):
        TABLES['V'].row('x')


# -------------------------------------------------------------- formatting
RESULTS = {'none': dict(ade150=30.5, voc20=94.25), 'Swin': dict(ade150=31.0)}


def test_markdown_by_hand():
    text = format_table(TABLES['VIa'], RESULTS, ['ade150', 'voc20'])
    assert text == (
        'Table VI(a): spatial-enhance aggregation of the decoder (mIoU, %)\n'
        '\n'
        '| aggregation | config                       | A-150 | PAS-20 |\n'
        '|-------------|------------------------------|------:|-------:|\n'
        '| none        | dcp-se-none_vitb16_cocostuff | 30.50 |  94.25 |\n'
        '| Swin        | dcp_vitb16_cocostuff         | 31.00 |      - |')


def test_markdown_with_paper_by_hand():
    text = format_table(TABLES['VIa'], RESULTS, ['voc20'], paper=True)
    assert text.splitlines()[2:] == [
        '| aggregation | config                       | PAS-20 '
        '| PAS-20 (paper) |',
        '|-------------|------------------------------|-------:'
        '|---------------:|',
        '| none        | dcp-se-none_vitb16_cocostuff |  94.25 '
        '|           94.7 |',
        '| Swin        | dcp_vitb16_cocostuff         |      - '
        '|           95.9 |',
    ]


def test_csv_by_hand_with_and_without_paper():
    assert format_table_csv(
        TABLES['VIa'], RESULTS,
        ['ade150', 'voc20'
         ]) == ('row,config,ade150,voc20\n'
                'none,dcp-se-none_vitb16_cocostuff,30.50,94.25\n'
                'Swin,dcp_vitb16_cocostuff,31.00,\n')
    vii = format_table_csv(
        TABLES['VII'], {'0': dict(voc20=50.0)}, ['voc20'], paper=True)
    assert vii.splitlines()[0] == ('row,config,voc20,voc20_paper,'
                                   'train_mem_gib_paper,train_min_paper,'
                                   'infer_s_paper')
    assert vii.splitlines()[-1] == \
        '0,dcp-tau0_vitb16_cocostuff,50.00,95.2,20.1,869.5,0.51'
    assert len(vii.splitlines()) == 1 + 5


def test_default_columns_and_write(tmp_path):
    md, csv_path = write_table(TABLES['V'], {}, tmp_path / 'out')
    assert md.name == 'table_V.md' and csv_path.name == 'table_V.csv'
    header = md.read_text().splitlines()[2]
    assert [c.strip() for c in header.strip('|').split('|')] == [
        'textual guidance', 'config', 'A-847', 'PC-459', 'A-150', 'PC-59',
        'PAS-20'
    ]
    assert csv_path.read_text().splitlines()[1] == \
        'full,dcp_vitb16_cocostuff,,,,,'


def test_results_for_unknown_row_raise():
    with pytest.raises(ValueError, match=r"rows \['CA'\]"):
        format_table(TABLES['V'], {'CA': {}})


# ------------------------------------------------------------- checkpoints
def test_find_checkpoint(tmp_path):
    assert find_checkpoint(tmp_path / 'absent') is None
    assert find_checkpoint(tmp_path) is None
    for name in ('iter_2.pth', 'iter_10.pth'):
        (tmp_path / name).write_bytes(b'')
    assert find_checkpoint(tmp_path) == tmp_path / 'iter_10.pth'  # numeric
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    assert find_checkpoint(tmp_path) == tmp_path / 'iter_2.pth'
    (tmp_path / 'last_checkpoint').write_text('gone.pth')  # stale pointer
    assert find_checkpoint(tmp_path) == tmp_path / 'iter_10.pth'
    single = tmp_path / 'single'
    single.mkdir()
    (single / 'model_final.pth').write_bytes(b'')
    assert find_checkpoint(single) == single / 'model_final.pth'
    (single / 'other.pth').write_bytes(b'')
    assert find_checkpoint(single) is None  # ambiguous


def test_missing_checkpoint_error_before_evaluating(tmp_path, monkeypatch):
    tool = _load_tool()

    def never(*args, **kwargs):
        raise AssertionError('nothing may be trained or evaluated')

    monkeypatch.setattr(tool, 'evaluate_row', never)
    monkeypatch.setattr(tool, 'train_row', never)
    ckpts = tmp_path / 'ckpts'
    present = ckpts / 'dcp_vitb16_cocostuff'
    present.mkdir(parents=True)
    (present / 'iter_8.pth').write_bytes(b'')
    with pytest.raises(FileNotFoundError) as err:
        tool.main([
            'V', '--checkpoints',
            str(ckpts), '--dataset', 'voc20', '--data-root',
            str(tmp_path)
        ])
    msg = str(err.value)
    assert 'Table V: 2 row(s) have no checkpoint' in msg
    for stem in ('dcp-tg-no-cls-score_vitb16_cocostuff',
                 'dcp-tg-no-cls-score-no-prompt_vitb16_cocostuff'):
        assert str(ckpts / stem) + '/iter_<N>.pth' in msg
    assert "row 'w/o s_c'" in msg and "row 'w/o s_c and p'" in msg
    assert "row 'full'" not in msg
    assert '--train' in msg


def test_cli_argument_errors(capsys):
    tool = _load_tool()
    with pytest.raises(SystemExit):
        tool.parse_args(['VI', '--checkpoints', 'x'])
    assert "invalid choice: 'VI'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args(['V', '--checkpoints', 'x', '--data-root', 'd'])
    assert '--data-root needs exactly one' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args(['V'])  # --checkpoints is required


def test_finished_row_is_not_retrained(tmp_path):
    tool = _load_tool()
    row = TABLES['VII'].row('0.9')
    (tmp_path / 'iter_2.pth').write_bytes(b'')
    # max_iters reached: the existing checkpoint is returned, no runner built
    got = tool.train_row(row, tmp_path, {'train_cfg.max_iters': 2})
    assert got == tmp_path / 'iter_2.pth'


# -------------------------------------------------------------- real run
SHORT_TRAIN = [
    'train_dataloader.batch_size=2',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'train_dataloader.dataset.pipeline.2.scale=(1333,64)',
    'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
    'train_cfg.max_iters=2',
    'train_cfg.val_begin=1000',  # no validation at the end of training
    'default_hooks.checkpoint.interval=2',
    'default_hooks.logger.interval=1',
    'model.test_cfg.mode=whole',
]


@pytest.mark.slow
def test_real_run_table_vii(shared_data, tmp_path):
    (tmp_path / 'data').symlink_to(shared_data)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable,
        str(ABLATION_PY), 'VII', '--train', '--paper', '--checkpoints',
        'ckpts', '--dataset', 'voc20', '--cfg-options', *TINY_CFG_OPTIONS,
        *SHORT_TRAIN
    ],
                          cwd=tmp_path,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    rows = {
        m.group(1): (m.group(2), float(m.group(3)), float(m.group(4)))
        for m in re.finditer(
            r'^\| (\S+)\s+\| (\S+)\s+\|\s+([0-9.]+) \|\s+([0-9.]+) \|',
            proc.stdout, re.M)
    }
    table = TABLES['VII']
    assert list(rows) == [r.label for r in table.rows], proc.stdout[-3000:]
    for row in table.rows:
        stem, ours, paper = rows[row.label]
        assert stem == row.stem
        assert 0.0 <= ours <= 100.0
        assert paper == row.paper['voc20']
        assert (tmp_path / 'ckpts' / stem / 'iter_2.pth').is_file()
    csv_lines = (tmp_path / 'ckpts' / 'table_VII.csv').read_text().split()
    assert len(csv_lines) == 1 + len(table.rows)
    assert (tmp_path / 'ckpts' / 'table_VII.md').is_file()
    assert 'test vocabulary: 20 categories' in out


def test_row_dataclass_paths():
    row = AblationRow('x', 'dcp/ablations/dcp-tau0_vitb16_cocostuff.py')
    assert row.stem == 'dcp-tau0_vitb16_cocostuff'
    assert not row.is_full_model
    assert row.config_path('/cfg') == Path(
        '/cfg/dcp/ablations/dcp-tau0_vitb16_cocostuff.py')


def test_metafile_errors(tmp_path):
    """A malformed metafile names the file and the missing key; a key used
    twice is refused."""
    from dcp_mm.evaluation.ablation_tables import load_tables
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'metafile.yaml'
     ).write_text('Ablations:\n- Table: X\n  Title: t\n  Rows: []\n')
    with pytest.raises(ValueError, match=r"metafile.yaml.*'Full config'"):
        load_tables(tmp_path)
    entry = ('- Table: X\n  Title: t\n  Row header: r\n  Benchmarks: '
             '[ade150]\n  Full config: a/x.py\n  Rows:\n  - Label: full\n'
             '    Config: a/x.py\n')
    (tmp_path / 'a' / 'metafile.yaml').write_text('Ablations:\n' + entry)
    table = load_tables(tmp_path)['X']
    assert table.rows[0].is_full_model and table.benchmarks == ('ade150', )
    (tmp_path / 'b').mkdir()
    (tmp_path / 'b' / 'metafile.yaml').write_text('Ablations:\n' + entry)
    with pytest.raises(ValueError, match='defined twice'):
        load_tables(tmp_path)


def test_summary_table_with_selection_diagnostics(tmp_path, monkeypatch,
                                                  capsys):
    """Besides the mIoU table, every row and benchmark is listed with aAcc
    and the selection diagnostics (table_<T>_summary.md)."""
    tool = _load_tool()
    table = TABLES['VII']
    ckpts = tmp_path / 'ckpts'
    for row in table.rows:
        (ckpts / row.stem).mkdir(parents=True)
        (ckpts / row.stem / 'iter_2.pth').write_bytes(b'')

    def fake_eval(row, checkpoint, benchmarks, work_dir, cfg_options):
        k = float(len(row.label))
        return [
            dict(
                benchmark=name,
                num_classes=20,
                mIoU=10.0,
                aAcc=50.0,
                mAcc=20.0,
                meanK=k,
                catRecall=75.0,
                pixRecall=40.0) for name in benchmarks
        ]

    monkeypatch.setattr(tool, 'evaluate_row', fake_eval)
    tool.main([
        'VII', '--checkpoints',
        str(ckpts), '--dataset', 'voc20', '--data-root',
        str(tmp_path)
    ])
    out = capsys.readouterr().out
    summary = (ckpts / 'table_VII_summary.md').read_text().splitlines()
    assert summary[0].split('|')[6:9] == [
        '    K ', ' cat. recall ', ' pix. recall '
    ]
    assert len(summary) == 2 + len(table.rows)
    first = table.rows[0]
    assert f'| {first.label} (voc20)' in summary[2]
    assert summary[2].rstrip().endswith('75.00 |       40.00 |')
    assert '\n'.join(summary) in out
