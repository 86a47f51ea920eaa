"""Zero-shot benchmarks for ``tools/test.py --dataset NAME ...``.

An open-vocabulary model trained once (COCO-Stuff-171) is evaluated on
several test sets. Each benchmark ``NAME`` is the dataset config
``configs/_base_/datasets/NAME.py`` of this repository; its
``test_dataloader`` and ``test_evaluator`` replace the ones of the model
config (the test vocabulary follows the dataset's ``metainfo['classes']``
through ``OVVocabularyHook``). This module holds the reusable parts:

* :func:`benchmark_config` / :func:`resolve_benchmarks`: benchmark name ->
  ``dict(test_dataloader=..., test_evaluator=...)``, with an optional
  ``data_root`` override;
* :func:`check_data_root`: fail early (before any model is built) when a
  data root does not exist;
* :func:`run_benchmarks`: evaluate several benchmarks with ONE
  :class:`mmengine.runner.Runner` (model built and checkpoint loaded once);
* :func:`summary_row`, :func:`format_summary`, :func:`format_summary_csv`,
  :func:`write_summary`: the final ``benchmark | #classes | mIoU | aAcc |
  mAcc`` table (+ ``K | cat. recall | pix. recall``, the selection
  diagnostics of ``OVIoUMetric``).
"""
import copy
import csv
import io
import os.path as osp
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from mmengine.config import Config
from mmengine.runner import Runner

from ..utils.config_root import config_root

BENCHMARKS: Tuple[str, ...] = ('cocostuff', 'ade150', 'ade847', 'pc59',
                               'pc459', 'voc20', 'voc20b')
"""Benchmark names accepted by ``--dataset`` (COCO-Stuff-171, ADE20K-150,
ADE20K-847, PASCAL-Context-59 / -459, PASCAL VOC-20 and VOC-20 with
background)."""

DATASET_CONFIG_DIR: Path = config_root() / '_base_' / 'datasets'
"""Default folder of the benchmark dataset configs (``_base_/datasets`` of
the shipped configs, see :func:`~dcp_mm.utils.config_root`)."""

SUMMARY_COLUMNS = ('benchmark', '#classes', 'mIoU', 'aAcc', 'mAcc')
"""Columns of the summary table (metric values in percent)."""

SELECTION_COLUMNS = ('K', 'cat. recall', 'pix. recall')
"""Columns added when a row has selection diagnostics (``OVIoUMetric``:
mean number of selected categories, category and pixel recall in percent).
"""

_METRIC_KEYS = ('mIoU', 'aAcc', 'mAcc')
_SELECTION_KEYS = ('meanK', 'catRecall', 'pixRecall')
PathLike = Union[str, Path]


def _check_name(name: str) -> None:
    if name not in BENCHMARKS:
        raise ValueError(f'unknown benchmark {name!r}; valid names: '
                         f'{", ".join(BENCHMARKS)}')


def benchmark_config(name: str,
                     data_root: Optional[PathLike] = None,
                     config_dir: Optional[PathLike] = None) -> Dict[str, Any]:
    """Test dataloader and evaluator configs of one benchmark.

    Args:
        name: one of :data:`BENCHMARKS`.
        data_root: if given, replaces ``test_dataloader.dataset.data_root``
            of the dataset config (the file's own ``data_root`` otherwise).
        config_dir: folder with ``NAME.py`` dataset configs; default
            :data:`DATASET_CONFIG_DIR`.

    Returns:
        ``dict(test_dataloader=dict, test_evaluator=dict | list)``: plain
        (deep-copied) config dicts, ready to be put into a runner config.

    Raises:
        ValueError: unknown ``name`` (the message lists the valid names), or
            the dataset config lacks ``test_dataloader`` /
            ``test_evaluator``.
        FileNotFoundError: the dataset config file does not exist.
    """
    _check_name(name)
    config_dir = Path(config_dir) if config_dir else DATASET_CONFIG_DIR
    path = config_dir / f'{name}.py'
    if not path.is_file():
        raise FileNotFoundError(
            f'dataset config of benchmark {name!r} not found: {path} (pass '
            'config_dir= the folder holding the configs/_base_/datasets '
            'files of the dcp_mm repository)')
    cfg = Config.fromfile(str(path))
    missing = [
        k for k in ('test_dataloader', 'test_evaluator') if k not in cfg
    ]
    if missing:
        raise ValueError(f'dataset config {path} defines no {missing}: every '
                         'benchmark config needs test_dataloader and '
                         'test_evaluator')
    plain = cfg.to_dict()  # ConfigDicts -> plain dicts / lists
    out = dict(
        test_dataloader=copy.deepcopy(plain['test_dataloader']),
        test_evaluator=copy.deepcopy(plain['test_evaluator']))
    if data_root is not None:
        out['test_dataloader']['dataset']['data_root'] = str(data_root)
    return out


def resolve_benchmarks(
        names: Sequence[str],
        data_root: Optional[PathLike] = None,
        config_dir: Optional[PathLike] = None) -> Dict[str, Dict[str, Any]]:
    """Configs of several benchmarks, in the given order.

    Args:
        names: benchmark names, each in :data:`BENCHMARKS`, no duplicates.
        data_root: data root override; allowed only with exactly one name
            (each benchmark has its own folder).
        config_dir: see :func:`benchmark_config`.

    Returns:
        ``{name: dict(test_dataloader=..., test_evaluator=...)}``.

    Raises:
        ValueError: empty ``names``, an unknown or repeated name, or
            ``data_root`` given with more than one name.
    """
    names = list(names)
    if not names:
        raise ValueError(f'no benchmark given; valid names: '
                         f'{", ".join(BENCHMARKS)}')
    for name in names:  # all names are checked before any file is read
        _check_name(name)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f'benchmark(s) given more than once: {repeated}')
    if data_root is not None and len(names) != 1:
        raise ValueError(
            f'--data-root needs exactly one --dataset, got {len(names)} '
            f'({" ".join(names)}): evaluate the benchmarks one by one, or '
            'put the data at the data_root of each dataset config')
    return {
        name: benchmark_config(name, data_root, config_dir)
        for name in names
    }


def _data_roots(dataset_cfg: Mapping) -> List[str]:
    """``data_root`` values of a dataset config (wrappers included)."""
    roots = []
    if dataset_cfg.get('data_root'):
        roots.append(str(dataset_cfg['data_root']))
    inner = list(dataset_cfg.get('datasets') or [])
    if isinstance(dataset_cfg.get('dataset'), Mapping):
        inner.append(dataset_cfg['dataset'])
    for cfg in inner:
        roots += _data_roots(cfg)
    return roots


def check_data_root(test_dataloader: Mapping,
                    name: Optional[str] = None) -> None:
    """Fail early if a ``data_root`` of a test dataloader config is missing.

    Relative roots are resolved against the current directory, as mmseg's
    datasets do. Datasets without ``data_root`` are not checked.

    Args:
        test_dataloader: dataloader config with a ``dataset`` entry.
        name: benchmark name for the message (None: the config's own
            test set).

    Raises:
        FileNotFoundError: a data root is not an existing directory; the
            message names it and says how to point to the data.
    """
    dataset = test_dataloader.get('dataset') or {}
    for root in _data_roots(dataset):
        if not osp.isdir(root):
            what = (f'benchmark {name!r}'
                    if name else 'the test_dataloader of the config')
            fix = ('pass --data-root DIR (with this single --dataset)'
                   if name else 'set --cfg-options '
                   'test_dataloader.dataset.data_root=DIR')
            raise FileNotFoundError(
                f'data root of {what} does not exist: {root!r} (resolved '
                f'against {osp.abspath(".")}): {fix}')


def summary_row(benchmark: str, metrics: Mapping[str, Any],
                num_classes: Optional[int]) -> Dict[str, Any]:
    """One summary row from the metrics returned by a test loop.

    Args:
        benchmark: benchmark name shown in the first column.
        metrics: ``{'mIoU': float, 'aAcc': float, 'mAcc': float, ...}`` in
            percent (as mmseg's ``IoUMetric``); prefixed keys
            (``'prefix/mIoU'``) are accepted.
        num_classes: size T of the test vocabulary (None: unknown).

    Returns:
        ``dict(benchmark=, num_classes=, mIoU=, aAcc=, mAcc=)``, a metric
        missing from ``metrics`` is None; plus ``meanK=, catRecall=,
        pixRecall=`` when ``metrics`` has them (``OVIoUMetric``'s
        selection diagnostics).
    """
    row: Dict[str, Any] = dict(benchmark=benchmark, num_classes=num_classes)
    for key in _METRIC_KEYS + _SELECTION_KEYS:
        value = metrics.get(key)
        if value is None:
            value = next(
                (v for k, v in metrics.items() if str(k).endswith('/' + key)),
                None)
        if value is not None or key in _METRIC_KEYS:
            row[key] = None if value is None else float(value)
    return row


def _has_selection(rows: Sequence[Mapping[str, Any]]) -> bool:
    return any(r.get(k) is not None for r in rows for k in _SELECTION_KEYS)


def _cells(row: Mapping[str, Any], selection: bool = False) -> List[str]:
    num = row.get('num_classes')
    cells = [str(row['benchmark']), '-' if num is None else str(int(num))]
    for key in _METRIC_KEYS + (_SELECTION_KEYS if selection else ()):
        value = row.get(key)
        cells.append('-' if value is None else f'{float(value):.2f}')
    return cells


def format_summary(rows: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table ``benchmark | #classes | mIoU | aAcc | mAcc``.

    Args:
        rows: dicts with keys ``benchmark``, ``num_classes``, ``mIoU``,
            ``aAcc``, ``mAcc`` (see :func:`summary_row`); metrics in percent,
            printed with two decimals; None is printed as ``-``.

    Returns:
        The table, columns padded to equal width, numbers right-aligned,
        one line per row, no trailing newline. Example::

            | benchmark | #classes |  mIoU |  aAcc |  mAcc |
            |-----------|---------:|------:|------:|------:|
            | ade150    |      150 | 31.25 | 70.10 | 45.00 |

        When any row has selection diagnostics (``meanK``, ``catRecall``,
        ``pixRecall``), the columns :data:`SELECTION_COLUMNS` follow.
    """
    sel = _has_selection(rows)
    header = list(SUMMARY_COLUMNS) + list(SELECTION_COLUMNS if sel else ())
    table = [header] + [_cells(r, sel) for r in rows]
    widths = [
        max(len(line[i]) for line in table) for i in range(len(table[0]))
    ]

    def fmt(cells: List[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return '| ' + ' | '.join(padded) + ' |'

    rule = '|' + '|'.join('-' * (w + 2) if i == 0 else '-' * (w + 1) + ':'
                          for i, w in enumerate(widths)) + '|'
    return '\n'.join([fmt(table[0]), rule] + [fmt(t) for t in table[1:]])


def format_summary_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The summary as CSV (header ``benchmark,num_classes,mIoU,aAcc,mAcc``).

    Args:
        rows: as in :func:`format_summary`; None becomes an empty field.

    Returns:
        CSV text with ``\\n`` line endings, metrics with two decimals;
        ``meanK,catRecall,pixRecall`` columns follow when any row has them.
    """
    sel = _has_selection(rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow([
        'benchmark', 'num_classes', *_METRIC_KEYS,
        *(_SELECTION_KEYS if sel else ())
    ])
    for row in rows:
        writer.writerow(['' if c == '-' else c for c in _cells(row, sel)])
    return buf.getvalue()


def read_summary_csv(path: PathLike) -> List[Dict[str, Any]]:
    """Rows of a ``summary.csv`` written by :func:`write_summary` ([] if
    the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with path.open(newline='') as f:
        for rec in csv.DictReader(f):
            if not rec.get('benchmark'):
                continue
            row: Dict[str, Any] = dict(benchmark=rec['benchmark'])
            num = rec.get('num_classes') or ''
            row['num_classes'] = int(num) if num.strip() else None
            for key in _METRIC_KEYS + _SELECTION_KEYS:
                value = (rec.get(key) or '').strip()
                if value or key in _METRIC_KEYS:  # no empty diagnostics
                    row[key] = float(value) if value else None
            rows.append(row)
    return rows


def merge_summary_rows(
        old: Sequence[Mapping[str, Any]],
        new: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Rows of an earlier summary updated by new rows: a benchmark of
    ``new`` replaces its old row in place, other old rows are kept, new
    benchmarks are appended."""
    merged = [dict(r) for r in old]
    index = {r['benchmark']: i for i, r in enumerate(merged)}
    for row in new:
        if row['benchmark'] in index:
            merged[index[row['benchmark']]] = dict(row)
        else:
            index[row['benchmark']] = len(merged)
            merged.append(dict(row))
    return merged


def write_summary(rows: Sequence[Mapping[str, Any]],
                  work_dir: PathLike,
                  merge: bool = True) -> Tuple[Path, Path]:
    """Write ``summary.md`` and ``summary.csv`` into ``work_dir``.

    Args:
        rows: as in :func:`format_summary`.
        work_dir: output folder (created if missing).
        merge: keep the rows of an earlier ``summary.csv`` in ``work_dir``
            (:func:`merge_summary_rows`): repeated test runs into one work
            dir add up instead of overwriting each other.

    Returns:
        Paths of the markdown and CSV files.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    md, csv_path = work_dir / 'summary.md', work_dir / 'summary.csv'
    if merge:
        rows = merge_summary_rows(read_summary_csv(csv_path), rows)
    md.write_text(format_summary(rows) + '\n')
    csv_path.write_text(format_summary_csv(rows))
    return md, csv_path


def _num_classes(dataloader: Any) -> Optional[int]:
    meta = getattr(getattr(dataloader, 'dataset', None), 'metainfo', None)
    classes = (meta or {}).get('classes')
    return len(classes) if classes else None


def run_benchmarks(
        runner: Runner,
        benchmarks: Mapping[str, Mapping[str, Any]],
        loop_cfg: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """Evaluate one model on several benchmarks with a single runner.

    Does what :meth:`Runner.test` does, but once for all benchmarks: the
    ``before_run`` hooks run and the checkpoint (``runner``'s ``load_from``)
    is loaded once; then, per benchmark, a fresh test loop (``loop_cfg``,
    default ``dict(type='TestLoop')``) is built with that benchmark's
    dataloader and evaluator and installed as ``runner.test_loop`` (so hooks
    such as ``OVVocabularyHook`` see the current dataset) and run;
    ``after_run`` hooks run at the end.

    Args:
        runner: a runner built with ``test_cfg`` (e.g.
            ``Runner.from_cfg(cfg)`` with ``cfg.load_from`` = checkpoint).
        benchmarks: ``{name: dict(test_dataloader=..., test_evaluator=...)}``
            (see :func:`resolve_benchmarks`), evaluated in order.
        loop_cfg: test loop config without dataloader / evaluator; default
            ``dict(type='TestLoop')``.

    Returns:
        One :func:`summary_row` per benchmark, in order.

    Raises:
        ValueError: ``benchmarks`` is empty.
    """
    if not benchmarks:
        raise ValueError('run_benchmarks needs at least one benchmark')
    loop_cfg = dict(loop_cfg or {})
    loop_cfg.setdefault('type', 'TestLoop')
    runner.call_hook('before_run')
    runner.load_or_resume()
    rows = []
    for name, bench in benchmarks.items():
        runner.logger.info(f'evaluating benchmark {name}')
        cfg = dict(
            copy.deepcopy(loop_cfg),
            dataloader=copy.deepcopy(bench['test_dataloader']),
            evaluator=copy.deepcopy(bench['test_evaluator']))
        # mmengine has no public setter: Runner.test() assigns it likewise.
        runner._test_loop = runner.build_test_loop(cfg)
        metrics = runner.test_loop.run()
        rows.append(
            summary_row(name, metrics,
                        _num_classes(runner.test_loop.dataloader)))
    runner.call_hook('after_run')
    return rows
