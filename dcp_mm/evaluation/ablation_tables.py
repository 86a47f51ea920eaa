"""Ablation tables read from the configs' metafiles, for
``tools/ablation.py``.

Every method folder of the configs may hold a ``metafile.yaml`` (mmseg's
metafile convention) with an ``Ablations`` list: each table of a paper in
its order, each row with

* the config that trains / evaluates it (``configs/<method>/ablations/...``,
  inheriting the method's full model and overriding only the row's keys),
  or the full model's config itself for the row that *is* the full model;
* ``Changed keys``: the dotted config keys in which the row differs from
  the full model (checked by ``tests/test_configs/test_ablation_configs.py``);
* ``Paper``: the paper's numbers (mIoU in %, per benchmark) and ``Paper
  extra`` (Table VII: training memory / time and inference time); rows
  whose numbers were not published or not retrievable have none (printed
  as ``-``) rather than guessed ones.

The metafiles: ``configs/dcp/metafile.yaml`` (DCP-CLIP Tables III-VII),
``configs/maftp/metafile.yaml`` (MAFT+'s CDT / RC on SED ConvNeXt-B),
``configs/dpseg/metafile.yaml`` (DPSeg's prompt and decoder ablations,
reconstructed). Benchmark names are those of
:data:`dcp_mm.evaluation.zero_shot.BENCHMARKS` (A-847 = ``ade847``, PC-459
= ``pc459``, A-150 = ``ade150``, PC-59 = ``pc59``, PAS-20 = ``voc20``).

This module also finds a row's checkpoint (:func:`find_checkpoint`) and
formats a table of results as markdown and CSV (:func:`format_table`,
:func:`format_table_csv`, :func:`write_table`).
"""
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import yaml

from ..utils.config_root import config_root

PathLike = Union[str, Path]

CONFIG_ROOT: Path = config_root()
"""The shipped configs (package copy of a wheel, or ``<repo>/configs``)."""

FULL_MODEL_CONFIG = 'dcp/dcp_vitb16_cocostuff.py'
"""DCP-CLIP's full model (relative to :data:`CONFIG_ROOT`)."""

PAPER_BENCHMARKS: Tuple[str,
                        ...] = ('ade847', 'pc459', 'ade150', 'pc59', 'voc20')
"""The papers' column order (A-847 / PC-459 / A-150 / PC-59 / PAS-20)."""

BENCHMARK_TITLES: Dict[str, str] = dict(
    ade847='A-847',
    pc459='PC-459',
    ade150='A-150',
    pc59='PC-59',
    voc20='PAS-20',
    voc20b='PAS-20b',
    cocostuff='COCO-171')
"""Column titles of the benchmarks (the paper's abbreviations)."""


@dataclass(frozen=True)
class AblationRow:
    """One row of an ablation table.

    Args:
        label: the row's name as in the paper (unique within its table).
        config: config file relative to :data:`CONFIG_ROOT`.
        changed_keys: dotted config keys that differ from the full model
            (empty for the full model); a key covers everything below it
            (``'model.selector'`` = the whole selector dict, set to None).
        paper: the paper's mIoU (%) per benchmark name.
        paper_extra: further numbers the paper reports for the row (Table
            VII: training memory / time, inference time), by column name.
        full_config: the config of the table's full model (DCP-CLIP's by
            default; another method's for its own tables, e.g. MAFT+ or
            DPSeg); ``changed_keys`` are relative to it.
    """
    label: str
    config: str
    changed_keys: Tuple[str, ...] = ()
    paper: Mapping[str, float] = field(default_factory=dict)
    paper_extra: Mapping[str, float] = field(default_factory=dict)
    full_config: str = FULL_MODEL_CONFIG

    @property
    def is_full_model(self) -> bool:
        """True if the row is the full model (its own config)."""
        return self.config == self.full_config

    @property
    def stem(self) -> str:
        """Config file name without ``.py``: the row's checkpoint folder."""
        return Path(self.config).stem

    def config_path(self, config_root: Optional[PathLike] = None) -> Path:
        """Absolute path of the config (under ``config_root``, default
        :data:`CONFIG_ROOT`)."""
        return Path(config_root or CONFIG_ROOT) / self.config


@dataclass(frozen=True)
class AblationTable:
    """One ablation table: rows in the paper's order.

    Args:
        key: CLI name (``'III'``, ``'IV'``, ``'V'``, ``'VIa'``, ``'VIb'``,
            ``'VIc'``, ``'VII'``, ``'MAFTP'``).
        title: caption.
        row_header: title of the first column (what the rows vary).
        benchmarks: the paper's benchmark columns, in its order.
        rows: the rows, one of them the full model.
        extra_columns: names of ``AblationRow.paper_extra`` columns.
    """
    key: str
    title: str
    row_header: str
    benchmarks: Tuple[str, ...]
    rows: Tuple[AblationRow, ...]
    extra_columns: Tuple[str, ...] = ()

    def row(self, label: str) -> AblationRow:
        """The row called ``label``; ValueError lists the valid labels."""
        for r in self.rows:
            if r.label == label:
                return r
        raise ValueError(f'Table {self.key} has no row {label!r}; rows: '
                         f'{[r.label for r in self.rows]}')


def _table(entry: Mapping, source: Path) -> AblationTable:
    """One ``Ablations`` entry of a metafile -> :class:`AblationTable`."""
    try:
        full = entry['Full config']
        rows = tuple(
            AblationRow(
                label=str(r['Label']),
                config=r['Config'],
                changed_keys=tuple(r.get('Changed keys', ())),
                paper=dict(r.get('Paper', {})),
                paper_extra=dict(r.get('Paper extra', {})),
                full_config=full) for r in entry['Rows'])
        return AblationTable(
            key=str(entry['Table']),
            title=entry['Title'],
            row_header=entry['Row header'],
            benchmarks=tuple(entry['Benchmarks']),
            rows=rows,
            extra_columns=tuple(entry.get('Extra columns', ())))
    except KeyError as e:
        raise ValueError(f'{source}: an Ablations entry lacks the key {e}; '
                         'see dcp_mm/evaluation/ablation_tables.py') from e


def load_tables(root: Optional[PathLike] = None) -> Dict[str, AblationTable]:
    """Every ablation table of the ``*/metafile.yaml`` files under
    ``root`` (default :data:`CONFIG_ROOT`), by key, in file order.

    Raises:
        ValueError: a malformed entry, or two tables with one key.
    """
    tables: Dict[str, AblationTable] = {}
    for path in sorted(Path(root or CONFIG_ROOT).glob('*/metafile.yaml')):
        meta = yaml.safe_load(path.read_text()) or {}
        for entry in meta.get('Ablations', []):
            table = _table(entry, path)
            if table.key in tables:
                raise ValueError(f'{path}: table {table.key!r} is defined '
                                 'twice')
            tables[table.key] = table
    return tables


TABLES: Dict[str, AblationTable] = load_tables()
"""All ablation tables by CLI key (DCP-CLIP's first, in the paper's order).
"""

EXTRA_TITLES: Dict[str, str] = dict(
    train_mem_gib='train mem (GiB)',
    train_min='train (min)',
    infer_s='infer (s)')
"""Column titles of the paper's extra columns (Table VII)."""


def get_table(key: str) -> AblationTable:
    """The table called ``key``.

    Raises:
        ValueError: unknown key; the message lists the valid keys.
    """
    if key not in TABLES:
        raise ValueError(f'unknown ablation table {key!r}; valid tables: '
                         f'{", ".join(TABLES)}')
    return TABLES[key]


def ablation_rows() -> List[AblationRow]:
    """Every row of every table that is not the full model."""
    return [r for t in TABLES.values() for r in t.rows if not r.is_full_model]


# ------------------------------------------------------------ checkpoints
def _iter_number(path: Path) -> int:
    match = re.fullmatch(r'iter_(\d+)\.pth', path.name)
    return int(match.group(1)) if match else -1


def find_checkpoint(work_dir: PathLike) -> Optional[Path]:
    """The checkpoint of a row trained into ``work_dir``.

    In order: the file named by ``work_dir/last_checkpoint`` (mmengine
    writes it; a relative path is taken relative to ``work_dir``) if it
    exists; else the ``iter_<N>.pth`` with the largest N; else the only
    ``*.pth`` file of the folder.

    Args:
        work_dir: the row's folder, ``CHECKPOINTS/<config stem>``.

    Returns:
        The checkpoint path, or None (no folder, or no unambiguous
        checkpoint in it).
    """
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        return None
    pointer = work_dir / 'last_checkpoint'
    if pointer.is_file():
        target = Path(pointer.read_text().strip())
        if not target.is_absolute():
            target = work_dir / target
        if target.is_file():
            return target
    iters = sorted(
        (p for p in work_dir.glob('iter_*.pth') if _iter_number(p) >= 0),
        key=_iter_number)
    if iters:
        return iters[-1]
    files = sorted(work_dir.glob('*.pth'))
    return files[0] if len(files) == 1 else None


def checkpoint_iteration(path: PathLike) -> Optional[int]:
    """N of a checkpoint named ``iter_<N>.pth``, else None."""
    n = _iter_number(Path(path))
    return n if n >= 0 else None


# -------------------------------------------------------------- formatting
def _fmt(value: Optional[float], digits: int) -> str:
    return '-' if value is None else f'{float(value):.{digits}f}'


def _columns(table: AblationTable, benchmarks: Sequence[str],
             paper: bool) -> List[Tuple[str, str]]:
    """(markdown title, CSV name) of the number columns."""
    cols = [(BENCHMARK_TITLES.get(b, b), b) for b in benchmarks]
    if paper:
        cols += [(f'{BENCHMARK_TITLES.get(b, b)} (paper)', f'{b}_paper')
                 for b in benchmarks]
        cols += [(f'{EXTRA_TITLES.get(e, e)} (paper)', f'{e}_paper')
                 for e in table.extra_columns]
    return cols


def _cells(table: AblationTable, results: Mapping[str, Mapping[str, float]],
           benchmarks: Sequence[str], paper: bool) -> List[List[str]]:
    lines = []
    for row in table.rows:
        ours = results.get(row.label, {})
        cells = [row.label, row.stem]
        cells += [_fmt(ours.get(b), 2) for b in benchmarks]
        if paper:
            cells += [_fmt(row.paper.get(b), 1) for b in benchmarks]
            cells += [
                _fmt(row.paper_extra.get(e), 2 if e == 'infer_s' else 1)
                for e in table.extra_columns
            ]
        lines.append(cells)
    return lines


def _check_results(table: AblationTable,
                   results: Mapping[str, Mapping[str, float]]) -> None:
    labels = [r.label for r in table.rows]
    unknown = [k for k in results if k not in labels]
    if unknown:
        raise ValueError(f'results for rows {unknown} that Table '
                         f'{table.key} does not have; rows: {labels}')


def format_table(table: AblationTable,
                 results: Mapping[str, Mapping[str, float]],
                 benchmarks: Optional[Sequence[str]] = None,
                 paper: bool = False) -> str:
    """The table in the paper's layout (rows x benchmarks, mIoU) as markdown.

    Args:
        table: the table definition.
        results: ``{row label: {benchmark: mIoU in %}}``; a missing row or
            benchmark (or None) is printed as ``-``.
        benchmarks: columns, default ``table.benchmarks``.
        paper: add the paper's numbers as a second group of columns
            (``<title> (paper)``), plus the table's extra columns.

    Returns:
        A title line, a blank line and the markdown table (columns: row
        label, config stem, our mIoU with two decimals, the paper's with one
        decimal), columns padded, numbers right-aligned, no trailing newline.

    Raises:
        ValueError: ``results`` names a row the table does not have.
    """
    _check_results(table, results)
    benchmarks = list(benchmarks or table.benchmarks)
    cols = _columns(table, benchmarks, paper)
    header = [table.row_header, 'config'] + [c[0] for c in cols]
    lines = [header] + _cells(table, results, benchmarks, paper)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def fmt(cells: List[str]) -> str:
        padded = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return '| ' + ' | '.join(padded) + ' |'

    rule = '|' + '|'.join('-' * (w + 2) if i < 2 else '-' * (w + 1) + ':'
                          for i, w in enumerate(widths)) + '|'
    body = '\n'.join([fmt(header), rule] + [fmt(c) for c in lines[1:]])
    return f'{table.title} (mIoU, %)\n\n{body}'


def format_table_csv(table: AblationTable,
                     results: Mapping[str, Mapping[str, float]],
                     benchmarks: Optional[Sequence[str]] = None,
                     paper: bool = False) -> str:
    """The table as CSV: header ``row,config,<benchmark>...`` (and
    ``<benchmark>_paper...``, ``<extra>_paper...`` with ``paper``).

    Args: as :func:`format_table`; a missing value is an empty field.

    Returns:
        CSV text with ``\\n`` line endings.
    """
    _check_results(table, results)
    benchmarks = list(benchmarks or table.benchmarks)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(['row', 'config'] +
                    [c[1] for c in _columns(table, benchmarks, paper)])
    for cells in _cells(table, results, benchmarks, paper):
        writer.writerow(['' if c == '-' else c for c in cells])
    return buf.getvalue()


def write_table(table: AblationTable,
                results: Mapping[str, Mapping[str, float]],
                work_dir: PathLike,
                benchmarks: Optional[Sequence[str]] = None,
                paper: bool = False) -> Tuple[Path, Path]:
    """Write ``table_<key>.md`` and ``table_<key>.csv`` into ``work_dir``.

    Args: as :func:`format_table`; ``work_dir`` is created if missing.

    Returns:
        Paths of the markdown and CSV files.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    md = work_dir / f'table_{table.key}.md'
    csv_path = work_dir / f'table_{table.key}.csv'
    md.write_text(format_table(table, results, benchmarks, paper) + '\n')
    csv_path.write_text(format_table_csv(table, results, benchmarks, paper))
    return md, csv_path
