"""Tests of dcp_mm.evaluation.zero_shot (benchmark resolution, summary,
runs)."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from dcp_mm.evaluation.zero_shot import (BENCHMARKS, DATASET_CONFIG_DIR,
                                         benchmark_config, check_data_root,
                                         format_summary, format_summary_csv,
                                         resolve_benchmarks, run_benchmarks,
                                         summary_row, write_summary)

REPO_ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------- the real configs
def test_dataset_config_dir_is_the_repo_one():
    assert DATASET_CONFIG_DIR == REPO_ROOT / 'configs' / '_base_' / 'datasets'


@pytest.mark.parametrize('name', BENCHMARKS)
def test_each_benchmark_resolves(name):
    cfg = benchmark_config(name)
    assert set(cfg) == {'test_dataloader', 'test_evaluator'}
    loader = cfg['test_dataloader']
    assert isinstance(loader, dict), 'plain dicts, not ConfigDicts'
    assert type(loader) is dict
    assert loader['dataset'].get('data_root'), f'{name}: no data_root'
    evaluators = cfg['test_evaluator']
    evaluators = evaluators if isinstance(evaluators, list) else [evaluators]
    assert [e['type'] for e in evaluators] == ['OVIoUMetric']


@pytest.mark.parametrize('name', BENCHMARKS)
def test_each_benchmark_data_root_override(name, tmp_path):
    cfg = benchmark_config(name, data_root=tmp_path)
    assert cfg['test_dataloader']['dataset']['data_root'] == str(tmp_path)
    check_data_root(cfg['test_dataloader'], name)  # exists: no error


def test_resolve_keeps_order_and_gives_fresh_copies():
    names = ['ade150', 'pc59', 'voc20']
    out = resolve_benchmarks(names)
    assert list(out) == names
    out['ade150']['test_dataloader']['dataset']['data_root'] = 'changed'
    again = benchmark_config('ade150')
    assert again['test_dataloader']['dataset']['data_root'] != 'changed'


# --------------------------------------------------- contract on a fake folder
@pytest.fixture
def fake_config_dir(tmp_path):
    """A folder with a dataset config ``ade150.py`` of the documented form."""
    folder = tmp_path / 'datasets'
    folder.mkdir()
    (folder / 'ade150.py').write_text(
        "data_root = 'data/missing_ade'\n"
        "test_pipeline = [dict(type='LoadImageFromFile')]\n"
        'test_dataloader = dict(batch_size=1, num_workers=0, dataset=dict('
        "type='FakeDataset', data_root=data_root, pipeline=test_pipeline))\n"
        "test_evaluator = dict(type='OVIoUMetric', iou_metrics=['mIoU'])\n")
    (folder / 'pc59.py').write_text("data_root = 'x'\n")
    return folder


def test_benchmark_config_contract(fake_config_dir, tmp_path):
    cfg = benchmark_config('ade150', config_dir=fake_config_dir)
    assert cfg['test_dataloader']['dataset']['data_root'] == \
        'data/missing_ade'
    assert cfg['test_evaluator'] == dict(
        type='OVIoUMetric', iou_metrics=['mIoU'])
    cfg = benchmark_config(
        'ade150', data_root=tmp_path, config_dir=fake_config_dir)
    assert cfg['test_dataloader']['dataset']['data_root'] == str(tmp_path)


def test_unknown_name_lists_valid_names(fake_config_dir):
    with pytest.raises(ValueError, match='unknown benchmark') as err:
        benchmark_config('ade151', config_dir=fake_config_dir)
    for name in BENCHMARKS:
        assert name in str(err.value)
    with pytest.raises(ValueError, match='valid names: cocostuff, ade150'):
        resolve_benchmarks(['ade150', 'foo'], config_dir=fake_config_dir)


def test_data_root_needs_exactly_one_name(fake_config_dir, tmp_path):
    with pytest.raises(ValueError, match='exactly one --dataset, got 2'):
        resolve_benchmarks(['ade150', 'pc59'],
                           data_root=tmp_path,
                           config_dir=fake_config_dir)
    out = resolve_benchmarks(['ade150'],
                             data_root=tmp_path,
                             config_dir=fake_config_dir)
    assert out['ade150']['test_dataloader']['dataset']['data_root'] == \
        str(tmp_path)


def test_resolve_rejects_empty_and_repeated(fake_config_dir):
    with pytest.raises(ValueError, match='no benchmark given'):
        resolve_benchmarks([], config_dir=fake_config_dir)
    with pytest.raises(ValueError, match='more than once'):
        resolve_benchmarks(['ade150', 'ade150'], config_dir=fake_config_dir)


def test_missing_or_incomplete_config(fake_config_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match='voc20.py'):
        benchmark_config('voc20', config_dir=fake_config_dir)
    with pytest.raises(ValueError, match='test_dataloader'):
        benchmark_config('pc59', config_dir=fake_config_dir)


def test_check_data_root(tmp_path):
    loader = dict(dataset=dict(type='X', data_root=str(tmp_path / 'nope')))
    with pytest.raises(FileNotFoundError) as err:
        check_data_root(loader, 'ade150')
    msg = str(err.value)
    assert str(tmp_path / 'nope') in msg and '--data-root' in msg
    assert "'ade150'" in msg
    with pytest.raises(FileNotFoundError, match='--cfg-options'):
        check_data_root(loader)
    # wrapped datasets are checked too; datasets without data_root are not
    wrapped = dict(
        dataset=dict(
            type='ConcatDataset',
            datasets=[
                dict(type='X', data_root=str(tmp_path)),
                dict(type='X', data_root=str(tmp_path / 'gone'))
            ]))
    with pytest.raises(FileNotFoundError, match='gone'):
        check_data_root(wrapped, 'pc59')
    check_data_root(dict(dataset=dict(type='X', data_root=str(tmp_path))))
    check_data_root(dict(dataset=dict(type='X')))


# ------------------------------------------------------------------- summary
ROWS = [
    dict(
        benchmark='ade150', num_classes=150, mIoU=31.2, aAcc=70.125,
        mAcc=45.0),
    dict(benchmark='pc459', num_classes=459, mIoU=None, aAcc=5.0, mAcc=9.99),
]


def test_format_summary_hand_checked():
    expected = ('| benchmark | #classes |  mIoU |  aAcc |  mAcc |\n'
                '|-----------|---------:|------:|------:|------:|\n'
                '| ade150    |      150 | 31.20 | 70.12 | 45.00 |\n'
                '| pc459     |      459 |     - |  5.00 |  9.99 |')
    assert format_summary(ROWS) == expected
    # header + rule only for no rows; long names widen the first column
    assert format_summary([]).splitlines()[0] == \
        '| benchmark | #classes | mIoU | aAcc | mAcc |'
    wide = format_summary([
        dict(
            benchmark='dcp_vitb16_cocostuff',
            num_classes=None,
            mIoU=1,
            aAcc=2,
            mAcc=3)
    ])
    assert wide.splitlines()[2] == \
        '| dcp_vitb16_cocostuff |        - | 1.00 | 2.00 | 3.00 |'


def test_format_summary_csv_and_write(tmp_path):
    expected = ('benchmark,num_classes,mIoU,aAcc,mAcc\n'
                'ade150,150,31.20,70.12,45.00\n'
                'pc459,459,,5.00,9.99\n')
    assert format_summary_csv(ROWS) == expected
    md, csv_path = write_summary(ROWS, tmp_path / 'new' / 'dir')
    assert md.read_text() == format_summary(ROWS) + '\n'
    assert csv_path.read_text() == expected
    assert (md.name, csv_path.name) == ('summary.md', 'summary.csv')


def test_summary_row():
    metrics = {'aAcc': 80.0, 'mIoU': 40.5, 'mAcc': 50.25, 'other': 1.0}
    assert summary_row('voc20', metrics, 20) == dict(
        benchmark='voc20', num_classes=20, mIoU=40.5, aAcc=80.0, mAcc=50.25)
    prefixed = {'ov/mIoU': 1.5, 'ov/aAcc': 2.0}
    row = summary_row('pc59', prefixed, None)
    assert (row['mIoU'], row['aAcc'], row['mAcc']) == (1.5, 2.0, None)


# ------------------------------------- run_benchmarks with a toy model/runner
class _ToyDataset(Dataset):

    def __init__(self, classes, values):
        self.metainfo = dict(classes=tuple(classes))
        self.values = values

    def __len__(self):
        return len(self.values)

    def __getitem__(self, idx):
        return dict(inputs=torch.tensor([self.values[idx]]))


class _ToyModel(BaseModel):
    """Predicts scale * input; ``scale`` comes from the checkpoint."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        inputs = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = inputs * self.scale  # (B, 1)
        if mode == 'loss':
            return dict(loss=out.sum())
        return [dict(pred=float(v)) for v in out[:, 0]]


class _MeanMetric(BaseMetric):
    """mIoU = mean prediction, aAcc = #classes, mAcc = #samples."""

    def process(self, data_batch, data_samples):
        self.results += [s['pred'] for s in data_samples]

    def compute_metrics(self, results):
        return dict(
            mIoU=sum(results) / len(results),
            aAcc=float(len(self.dataset_meta['classes'])),
            mAcc=float(len(results)))


class _RecordHook(Hook):
    """Records what a vocabulary hook sees in ``before_test``."""

    def __init__(self):
        self.seen, self.runs = [], 0

    def before_run(self, runner):
        self.runs += 1

    def before_test(self, runner):
        ds = runner.test_loop.dataloader.dataset
        self.seen.append(ds.metainfo['classes'])


def _loader(dataset):
    return dict(
        dataset=dataset,
        batch_size=2,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'))


def test_run_benchmarks_one_runner_one_checkpoint_load(tmp_path):
    ckpt = tmp_path / 'toy.pth'
    trained = _ToyModel()
    with torch.no_grad():
        trained.scale.fill_(2.0)
    torch.save(dict(state_dict=trained.state_dict()), ckpt)
    hook = _RecordHook()
    benches = dict(
        a=dict(
            test_dataloader=_loader(_ToyDataset('xyz', [1.0, 2.0, 3.0])),
            test_evaluator=[_MeanMetric()]),
        b=dict(
            test_dataloader=_loader(_ToyDataset('uv', [10.0, 20.0])),
            test_evaluator=[_MeanMetric()]))
    first = benches['a']
    runner = Runner(
        model=_ToyModel(),
        work_dir=str(tmp_path / 'work'),
        test_dataloader=first['test_dataloader'],
        test_evaluator=first['test_evaluator'],
        test_cfg=dict(),
        load_from=str(ckpt),
        custom_hooks=[hook],
        default_hooks=dict(logger=None, checkpoint=None),
        default_scope='mmengine')
    loads = []
    load_checkpoint = runner.load_checkpoint
    runner.load_checkpoint = lambda *a, **k: (loads.append(a),
                                              load_checkpoint(*a, **k))[1]
    rows = run_benchmarks(runner, benches, dict(type='TestLoop'))
    assert len(loads) == 1, 'checkpoint must be loaded once'
    assert hook.runs == 1, 'before_run hooks must run once'
    assert hook.seen == [tuple('xyz'), tuple('uv')]
    # predictions use the checkpoint's scale 2: mean(2, 4, 6), mean(20, 40)
    assert rows == [
        dict(benchmark='a', num_classes=3, mIoU=4.0, aAcc=3.0, mAcc=3.0),
        dict(benchmark='b', num_classes=2, mIoU=30.0, aAcc=2.0, mAcc=2.0)
    ]
    with pytest.raises(ValueError, match='at least one benchmark'):
        run_benchmarks(runner, {})


def test_repeated_runs_merge_summary_rows(tmp_path):
    """Issue 9: tools/test.py twice into one work dir overwrote summary.md
    (the earlier benchmark's row was lost)."""
    from dcp_mm.evaluation.zero_shot import read_summary_csv, write_summary
    ade = dict(
        benchmark='ade150', num_classes=150, mIoU=31.0, aAcc=70.0, mAcc=40.0)
    voc = dict(
        benchmark='voc20', num_classes=20, mIoU=90.0, aAcc=None, mAcc=95.5)
    md, csv_path = write_summary([ade], tmp_path)
    write_summary([voc], tmp_path)
    rows = read_summary_csv(csv_path)
    assert [r['benchmark'] for r in rows] == ['ade150', 'voc20']
    assert rows[1] == voc and rows[0] == ade
    assert 'ade150' in md.read_text() and 'voc20' in md.read_text()
    write_summary([dict(ade, mIoU=33.5)], tmp_path)  # re-evaluated: replaced
    rows = read_summary_csv(csv_path)
    assert [(r['benchmark'], r['mIoU']) for r in rows] == [('ade150', 33.5),
                                                           ('voc20', 90.0)]
    write_summary([voc], tmp_path, merge=False)
    assert [r['benchmark'] for r in read_summary_csv(csv_path)] == ['voc20']


def test_summary_with_selection_diagnostics(tmp_path):
    metrics = {
        'mIoU': 12.0,
        'aAcc': 40.0,
        'mAcc': 20.0,
        'meanK': 5.25,
        'catRecall': 60.0,
        'pixRecall': 45.5
    }
    rows = [
        summary_row('voc20', metrics, 20),
        summary_row('voc20 (oracle)', dict(metrics, mIoU=30.0), 20),
        summary_row('other', {'mIoU': 1.0}, None),
    ]
    assert rows[0]['meanK'] == 5.25 and 'meanK' not in rows[2]
    expected = ('| benchmark      | #classes |  mIoU |  aAcc |  mAcc |    K | '
                'cat. recall | pix. recall |\n'
                '|----------------|---------:|------:|------:|------:|-----:|'
                '------------:|------------:|\n'
                '| voc20          |       20 | 12.00 | 40.00 | 20.00 | 5.25 | '
                '      60.00 |       45.50 |\n'
                '| voc20 (oracle) |       20 | 30.00 | 40.00 | 20.00 | 5.25 | '
                '      60.00 |       45.50 |\n'
                '| other          |        - |  1.00 |     - |     - |    - | '
                '          - |           - |')
    assert format_summary(rows) == expected
    csv_text = format_summary_csv(rows)
    assert csv_text.splitlines()[0] == (
        'benchmark,num_classes,mIoU,aAcc,mAcc,meanK,catRecall,pixRecall')
    assert csv_text.splitlines()[3] == 'other,,1.00,,,,,'
