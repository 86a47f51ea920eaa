"""Reproduce one ablation table of DCP-CLIP (Tables III-VII) or MAFT+'s parts.

    python tools/ablation.py TABLE --checkpoints DIR [--dataset NAME ...]
        [--train] [--paper] [--work-dir WORK_DIR] [--cfg-options K=V ...]

TABLE is one of the tables of the configs' metafiles (``--list``): III, IV,
V, VIa, VIb, VIc, VII (``configs/dcp/metafile.yaml``), MAFTP
(``configs/maftp/metafile.yaml``), DPSeg-2, DPSeg-3 (DPSeg's prompt and
decoder ablations, reconstructed: ``configs/dpseg/metafile.yaml``). Each row
has a config
(``configs/dcp/ablations/*.py``, or the full model
``configs/dcp/dcp_vitb16_cocostuff.py``;
for MAFTP, CDT / RC on and off on SED ConvNeXt-B, ``configs/maftp/
ablations/*.py`` and ``configs/maftp/maftp-cdt-rc_convnextb_cocostuff.py``,
without paper numbers) and its checkpoint lives in ``DIR/<config stem>/``:
the file that ``last_checkpoint`` names, else the latest ``iter_<N>.pth``,
else the only ``*.pth`` there.

* Without ``--train`` every row must have its checkpoint; otherwise the tool
  stops, before evaluating anything, with an error naming each missing row
  and the expected path.
* With ``--train`` each row is first trained (mmengine Runner, work_dir
  ``DIR/<config stem>``): a row without checkpoint from scratch, a row whose
  latest ``iter_<N>.pth`` has N < ``train_cfg.max_iters`` is resumed, a
  finished row is only evaluated.

Then every row is evaluated on the benchmarks (default: the table's columns;
one runner per row, as ``tools/test.py --dataset``) and the table (rows x
benchmarks, mIoU) is printed as markdown and written to
``WORK_DIR/table_<TABLE>.md`` and ``.csv`` (WORK_DIR defaults to DIR).
``--paper`` adds the paper's numbers as a second group of columns. A second
table (``WORK_DIR/table_<TABLE>_summary.md``) lists every row and benchmark
with aAcc, mAcc and the selection diagnostics (mean K, category and pixel
recall of the selected categories, see ``OVIoUMetric``).
``--cfg-options`` apply to training and evaluation alike (as in
``tools/test.py --dataset``, the benchmarks' own test dataloaders and
evaluators replace the config's ``test_dataloader`` / ``test_evaluator``).
"""
import argparse
import os
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

# isort: off
import dcp_mm  # noqa: F401  (installs the compat shims; must precede mmseg)
from dcp_mm.evaluation.ablation_tables import (TABLES, AblationRow,
                                               AblationTable,
                                               checkpoint_iteration,
                                               find_checkpoint, format_table,
                                               get_table, write_table)
from dcp_mm.evaluation.zero_shot import (BENCHMARKS, check_data_root,
                                         format_summary, resolve_benchmarks,
                                         run_benchmarks)
from dcp_mm.engine import check_cfg_options
from dcp_mm.utils.config_root import config_root
# isort: on
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

CONFIG_ROOT = config_root()
DATASET_CONFIG_DIR = CONFIG_ROOT / '_base_' / 'datasets'


def list_tables() -> str:
    """Every table with its rows and config files (all must exist)."""
    lines = [f'configs: {CONFIG_ROOT}']
    for key, table in TABLES.items():
        lines.append(f'{key}: {table.title}')
        for row in table.rows:
            path = row.config_path(CONFIG_ROOT)
            if not path.is_file():
                raise FileNotFoundError(f'config of row {row.label!r} of '
                                        f'Table {key} not found: {path}')
            lines.append(f'  {row.label}: {row.config}')
    return '\n'.join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='dcp_mm: train / evaluate the rows of one DCP-CLIP '
        'ablation table and print it in the paper\'s layout')
    parser.add_argument(
        'table', nargs='?', choices=list(TABLES), help='the paper\'s table')
    parser.add_argument(
        '--list',
        action='store_true',
        help='list the tables, their rows and configs, and exit')
    parser.add_argument(
        '--checkpoints',
        metavar='DIR',
        help='folder with one sub-folder per row, named after the row\'s '
        'config file (DIR/<config stem>/iter_*.pth)')
    parser.add_argument(
        '--dataset',
        nargs='+',
        metavar='NAME',
        choices=BENCHMARKS,
        help='benchmarks to evaluate (default: the table\'s columns; one or '
        f'more of: {", ".join(BENCHMARKS)})')
    parser.add_argument(
        '--data-root',
        help='data root of the benchmark (only with exactly one --dataset)')
    parser.add_argument(
        '--train',
        action='store_true',
        help='train (or resume) every row before evaluating it')
    parser.add_argument(
        '--paper',
        action='store_true',
        help='add the paper\'s numbers as a second group of columns')
    parser.add_argument(
        '--work-dir',
        help='where table_<TABLE>.md / .csv and the evaluation logs go '
        '(default: the --checkpoints DIR)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of every row\'s config (training and '
        'evaluation), key=value pairs as in tools/train.py')
    args = parser.parse_args(argv)
    if args.data_root is not None and (not args.dataset
                                       or len(args.dataset) != 1):
        parser.error('--data-root needs exactly one --dataset NAME')
    os.environ.setdefault('LOCAL_RANK', '0')
    if not args.list and (args.table is None or args.checkpoints is None):
        parser.error('give TABLE and --checkpoints DIR (or --list)')
    return args


def _load_config(row: AblationRow, cfg_options: Optional[dict]) -> Config:
    path = row.config_path(CONFIG_ROOT)
    cfg = Config.fromfile(str(path))
    cfg.launcher = 'none'
    check_cfg_options(cfg, cfg_options)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _build_runner(cfg: Config) -> Runner:
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def _experiment_name(row: AblationRow, what: str) -> str:
    # unique per runner: mmengine keys its logger / visualizer instances on it
    return f'{row.stem}_{what}_{time.strftime("%Y%m%d_%H%M%S")}_' \
        f'{time.monotonic_ns()}'


def missing_checkpoints_message(missing: Sequence[AblationRow],
                                checkpoints: Path, table: str) -> str:
    """Error text for rows without checkpoint (one line per row)."""
    lines = [
        f'  row {r.label!r} (configs/{r.config}): no checkpoint in '
        f'{checkpoints / r.stem} (expected {checkpoints / r.stem}/'
        'iter_<N>.pth, a last_checkpoint file, or a single .pth)'
        for r in missing
    ]
    return (f'Table {table}: {len(missing)} row(s) have no checkpoint:\n' +
            '\n'.join(lines) + '\nTrain them with --train, or put their '
            'checkpoints at these paths.')


def train_row(row: AblationRow, work_dir: Path,
              cfg_options: Optional[dict]) -> Path:
    """Train (or resume) one row into ``work_dir``; its checkpoint.

    Raises:
        RuntimeError: training ended without writing a checkpoint.
    """
    cfg = _load_config(row, cfg_options)
    ckpt = find_checkpoint(work_dir)
    max_iters = cfg.get('train_cfg', {}).get('max_iters')
    done = checkpoint_iteration(ckpt) if ckpt else None
    if ckpt is not None and (done is None or max_iters is None
                             or done >= max_iters):
        print_log(
            f'row {row.label!r}: trained already ({ckpt}), not retrained',
            logger='current')
        return ckpt
    cfg.work_dir = str(work_dir)
    if ckpt is not None:  # resume this file (last_checkpoint may be absent)
        cfg.resume, cfg.load_from = True, str(ckpt)
    cfg.experiment_name = _experiment_name(row, 'train')
    print_log(
        f'row {row.label!r}: training {row.config} into {work_dir}' +
        (f' (resuming from {ckpt})' if ckpt else ''),
        logger='current')
    runner = _build_runner(cfg)
    runner.train()
    del runner
    ckpt = find_checkpoint(work_dir)
    if ckpt is None:
        raise RuntimeError(
            f'row {row.label!r}: training wrote no checkpoint into '
            f'{work_dir}; check default_hooks.checkpoint.interval against '
            'train_cfg.max_iters')
    return ckpt


def evaluate_row(row: AblationRow, checkpoint: Path, benchmarks: Dict,
                 work_dir: Path, cfg_options: Optional[dict]) -> List[Dict]:
    """Summary rows (:func:`summary_row`: mIoU, aAcc, mAcc, selection
    diagnostics) of one row's checkpoint, one per benchmark (one runner).
    """
    cfg = _load_config(row, cfg_options)
    cfg.work_dir = str(work_dir)
    cfg.load_from = str(checkpoint)
    cfg.resume = False
    # the checkpoint holds every weight: no CLIP weights are fetched
    cfg.model.pretrained = None
    first = next(iter(benchmarks.values()))
    cfg.test_dataloader = first['test_dataloader']
    cfg.test_evaluator = first['test_evaluator']
    cfg.experiment_name = _experiment_name(row, 'test')
    runner = _build_runner(cfg)
    rows = run_benchmarks(runner, benchmarks, cfg.get('test_cfg'))
    del runner
    return rows


def main(argv=None) -> str:
    """Run the CLI; returns the printed markdown table."""
    args = parse_args(argv)
    if args.list:
        text = list_tables()
        print(text)
        return text
    table: AblationTable = get_table(args.table)
    names: List[str] = list(args.dataset or table.benchmarks)
    # every check that needs no model comes first
    benchmarks = resolve_benchmarks(names, args.data_root, DATASET_CONFIG_DIR)
    for name, bench in benchmarks.items():
        check_data_root(bench['test_dataloader'], name)
    for row in table.rows:
        if not row.config_path(CONFIG_ROOT).is_file():
            raise FileNotFoundError(f'config of row {row.label!r} not found: '
                                    f'{row.config_path(CONFIG_ROOT)}')
    checkpoints = Path(args.checkpoints)
    work_dir = Path(args.work_dir) if args.work_dir else checkpoints
    found = {
        r.label: find_checkpoint(checkpoints / r.stem)
        for r in table.rows
    }
    missing = [r for r in table.rows if found[r.label] is None]
    if missing and not args.train:
        raise FileNotFoundError(
            missing_checkpoints_message(missing, checkpoints, table.key))

    if args.train:
        for row in table.rows:
            found[row.label] = train_row(row, checkpoints / row.stem,
                                         args.cfg_options)
    results, summary = {}, []
    for row in table.rows:
        print_log(
            f'row {row.label!r}: evaluating {found[row.label]} on '
            f'{", ".join(names)}',
            logger='current')
        rows = evaluate_row(row, found[row.label], benchmarks,
                            work_dir / 'eval' / row.stem, args.cfg_options)
        results[row.label] = {r['benchmark']: r['mIoU'] for r in rows}
        summary += [
            dict(r, benchmark=f'{row.label} ({r["benchmark"]})') for r in rows
        ]
    text = format_table(table, results, names, args.paper)
    md, csv_path = write_table(table, results, work_dir, names, args.paper)
    # every row and benchmark with aAcc, mAcc and the selection diagnostics
    sel_md = work_dir / f'table_{table.key}_summary.md'
    sel_md.write_text(format_summary(summary) + '\n')
    print(text)
    print(f'\nper row and benchmark (K = mean number of selected '
          f'categories, recalls of the selection in %):\n\n'
          f'{format_summary(summary)}')
    print(f'\nwritten to {md}, {csv_path} and {sel_md}')
    return text


if __name__ == '__main__':
    main()
