"""The ablation tables of DCP-CLIP (Tables III-VII) and of MAFT+'s parts
(``MAFTP``) for ``tools/ablation.py``.

Each table of the paper is an :class:`AblationTable`: its rows in the
paper's order, each row an :class:`AblationRow` with

* the config that trains / evaluates it: ``configs/dcp/ablations/<name>.py``
  (inheriting ``configs/dcp/dcp_vitb16_cocostuff.py`` and overriding only the
  keys of the row), or the full model's config itself for the row that *is*
  the full model (``+all with TV``, ``CA+SA``, ``tau = 0.5``, ...);
* ``changed_keys``: the dotted config keys in which the row differs from the
  full model (checked by ``tests/test_configs/test_ablation_configs.py``);
* the paper's numbers (mIoU in %, per benchmark; Table VII also training
  memory / time and inference time).

The ``MAFTP`` table switches MAFT+'s Content-Dependent Transfer (CDT) and
Representation Compensation (RC) on and off on SED ConvNeXt-B with MAFT+'s
CLIP recipe (full model ``configs/maftp/maftp-cdt-rc_convnextb_cocostuff.py``,
rows in ``configs/maftp/ablations``). MAFT+'s own CDT / RC ablation numbers
were not retrievable, so its rows carry no paper numbers (printed as ``-``)
rather than guessed ones.

Benchmark names are those of :data:`dcp_mm.apis.benchmarks.BENCHMARKS`:
A-847 = ``ade847``, PC-459 = ``pc459``, A-150 = ``ade150``, PC-59 =
``pc59``, PAS-20 = ``voc20``.

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

from ..utils.config_root import config_root

PathLike = Union[str, Path]

CONFIG_ROOT: Path = config_root()
"""The shipped configs (package copy of a wheel, or ``<repo>/configs``)."""

FULL_MODEL_CONFIG = 'dcp/dcp_vitb16_cocostuff.py'
"""The full model (relative to :data:`CONFIG_ROOT`)."""

ABLATION_CONFIG_DIR = 'dcp/ablations'
"""Folder of the ablation configs (relative to :data:`CONFIG_ROOT`)."""

MAFTP_FULL_CONFIG = 'maftp/maftp-cdt-rc_convnextb_cocostuff.py'
"""The full model of the MAFT+ table (SED ConvNeXt-B + CDT + RC)."""

MAFTP_ABLATION_DIR = 'maftp/ablations'
"""Folder of the MAFT+ table's ablation configs."""

PAPER_BENCHMARKS: Tuple[str,
                        ...] = ('ade847', 'pc459', 'ade150', 'pc59', 'voc20')
"""The paper's column order (A-847 / PC-459 / A-150 / PC-59 / PAS-20)."""

BENCHMARK_TITLES: Dict[str, str] = dict(
    ade847='A-847',
    pc459='PC-459',
    ade150='A-150',
    pc59='PC-59',
    voc20='PAS-20',
    voc20b='PAS-20b',
    cocostuff='COCO-171')
"""Column titles of the benchmarks (the paper's abbreviations)."""

# groups of switches shared by several rows (dotted keys of the config)
NO_DCS = ('model.selector', )
NO_TGA = ('model.neck.with_ca', 'model.neck.with_sa')
PLAIN_DECODER = ('model.decode_head.spatial_enhance',
                 'model.decode_head.fuse_shallow_up',
                 'model.decode_head.fuse_shallow_qk',
                 'model.decode_head.fuse_cost', 'model.decode_head.fuse_attn')
# Table VI(c) "none": no fusion into the Swin Q/K; the U-Net path keeps F_s
# ("without fusion, the decoder relies solely on shallow features")
QK_FUSION = ('model.decode_head.fuse_shallow_qk',
             'model.decode_head.fuse_cost', 'model.decode_head.fuse_attn')
NO_TV = ('model.post_processor', )
UNUSED_PARAMS = ('find_unused_parameters', )
"""Rows without the attention guidance A leave the query projection of the
last CLIP block without gradient; their configs set mmengine's
``find_unused_parameters = True`` for distributed (DDP) training."""


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
            :mod:`dcp_mm.apis.dpseg_ablations`); ``changed_keys`` are
            relative to it.
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


def _ablation(name: str) -> str:
    return f'{ABLATION_CONFIG_DIR}/dcp-{name}_vitb16_cocostuff.py'


def _paper(values: Sequence[float],
           benchmarks: Sequence[str] = PAPER_BENCHMARKS) -> Dict[str, float]:
    assert len(values) == len(benchmarks), (
        f'{len(values)} numbers for {len(benchmarks)} benchmarks')
    return dict(zip(benchmarks, values))


def _row(label: str,
         name: Optional[str],
         values: Sequence[float],
         keys: Sequence[str] = (),
         benchmarks: Sequence[str] = PAPER_BENCHMARKS,
         extra: Optional[Mapping[str, float]] = None) -> AblationRow:
    """``name=None``: the full model."""
    return AblationRow(
        label=label,
        config=FULL_MODEL_CONFIG if name is None else _ablation(name),
        changed_keys=tuple(keys),
        paper=_paper(values, benchmarks),
        paper_extra=dict(extra or {}))


_FULL = (12.3, 19.7, 32.4, 58.1, 95.9)  # Table I, DCP-CLIP ViT-B/16
_TAU_BENCHMARKS = ('ade847', 'ade150', 'voc20')
_TAU_EXTRA = ('train_mem_gib', 'train_min', 'infer_s')


def _tau_row(label: str, name: Optional[str], values: Sequence[float],
             extra: Sequence[float]) -> AblationRow:
    keys = ('model.selector.tau', ) if name else ()
    return _row(
        label,
        name,
        values,
        keys,
        benchmarks=_TAU_BENCHMARKS,
        extra=dict(zip(_TAU_EXTRA, extra)))


NO_CDT, NO_RC = 'model.text_adapter', 'model.aux_losses'


def _maftp_row(label: str, name: Optional[str],
               keys: Sequence[str]) -> AblationRow:
    """A row of the MAFT+ table, without paper numbers (MAFT+'s CDT / RC
    ablation was not retrievable; its cells stay empty, not guessed)."""
    config = MAFTP_FULL_CONFIG if name is None else \
        f'{MAFTP_ABLATION_DIR}/maftp-{name}_convnextb_cocostuff.py'
    return AblationRow(
        label=label,
        config=config,
        changed_keys=tuple(keys),
        full_config=MAFTP_FULL_CONFIG)


# yapf: disable
# Each row: label, config name (None = the full model), the paper's numbers
# (A-847, PC-459, A-150, PC-59, PAS-20), the keys that differ from the full
# model.
_TABLE_LIST = [
    AblationTable(
        key='III',
        title='Table III: effect of each component',
        row_header='components',
        benchmarks=PAPER_BENCHMARKS,
        rows=(
            _row('baseline', 'baseline', (7.1, 14.4, 23.1, 52.6, 93.7),
                 NO_DCS + NO_TGA + PLAIN_DECODER + NO_TV + UNUSED_PARAMS),
            _row('+DCS', 'dcs-only', (7.4, 14.3, 23.3, 52.9, 93.6),
                 NO_TGA + PLAIN_DECODER + NO_TV + UNUSED_PARAMS),
            _row('+DCS+TGA', 'dcs-tga', (10.8, 17.7, 30.2, 56.3, 94.6),
                 PLAIN_DECODER + NO_TV + UNUSED_PARAMS),
            _row('+DCS+SED', 'dcs-sed', (11.3, 18.6, 31.5, 57.1, 94.5),
                 NO_TGA + NO_TV),
            _row('+DCS+TGA+SED', 'dcs-tga-sed',
                 (12.1, 19.6, 32.2, 57.9, 95.7), NO_TV),
            _row('+all with TV', None, _FULL),
        )),
    AblationTable(
        key='IV',
        title='Table IV: branches of the text-guided alignment',
        row_header='TGA branches',
        benchmarks=PAPER_BENCHMARKS,
        rows=(
            _row('none', 'tga-none', (11.4, 18.5, 31.2, 57.4, 94.4), NO_TGA),
            _row('CA', 'tga-ca-only', (12.1, 19.3, 31.9, 57.6, 94.9),
                 ('model.neck.with_sa', )),
            _row('SA', 'tga-sa-only', (11.6, 18.7, 32.1, 57.9, 95.5),
                 ('model.neck.with_ca', )),
            _row('CA+SA', None, _FULL),
        )),
    AblationTable(
        key='V',
        title='Table V: textual guidance of the alignment (Eq. 7)',
        row_header='textual guidance',
        benchmarks=PAPER_BENCHMARKS,
        rows=(
            _row('full', None, _FULL),
            _row('w/o s_c', 'tg-no-cls-score',
                 (12.2, 19.5, 32.5, 57.6, 95.5),
                 ('model.neck.use_cls_score', )),
            _row('w/o s_c and p', 'tg-no-cls-score-no-prompt',
                 (12.0, 19.1, 32.0, 57.0, 95.1),
                 ('model.neck.use_cls_score', 'model.neck.use_prompt')),
        )),
    AblationTable(
        key='VIa',
        title='Table VI(a): spatial-enhance aggregation of the decoder',
        row_header='aggregation',
        benchmarks=PAPER_BENCHMARKS,
        rows=(
            _row('none', 'se-none', (11.0, 18.1, 30.8, 56.6, 94.7),
                 ('model.decode_head.spatial_enhance', ) + UNUSED_PARAMS),
            _row('Swin', None, _FULL),
        )),
    AblationTable(
        key='VIb',
        title='Table VI(b): number of decoder layers',
        row_header='decoder layers',
        benchmarks=PAPER_BENCHMARKS,
        rows=(
            _row('0', 'dec-0layer', (11.4, 18.8, 31.5, 57.0, 94.9),
                 ('model.decode_head.num_layers', )),
            _row('1', 'dec-1layer', (11.8, 19.4, 31.9, 57.6, 95.2),
                 ('model.decode_head.num_layers', )),
            _row('2', None, _FULL),
        )),
    AblationTable(
        key='VIc',
        title='Table VI(c): feature fusion in the decoder',
        row_header='feature fusion',
        benchmarks=PAPER_BENCHMARKS,
        rows=(
            _row('none', 'fuse-none', (11.6, 19.1, 31.3, 56.8, 94.7),
                 QK_FUSION + UNUSED_PARAMS),
            _row('+F_s', 'fuse-shallow', (11.8, 19.4, 31.8, 57.6, 95.5),
                 QK_FUSION[1:] + UNUSED_PARAMS),
            _row('+C_0', 'fuse-shallow-cost', (12.0, 19.5, 32.1, 57.8, 95.7),
                 QK_FUSION[2:] + UNUSED_PARAMS),
            _row('+A', None, _FULL),
        )),
    AblationTable(
        key='VII',
        title='Table VII: DCS threshold tau (Eq. 4)',
        row_header='tau',
        benchmarks=_TAU_BENCHMARKS,
        extra_columns=_TAU_EXTRA,
        rows=(  # (A-847, A-150, PAS-20), (memory GiB, train min, infer s)
            _tau_row('0.9', 'tau0p9', (11.9, 32.0, 96.0), (12.1, 461.4, 0.19)),
            _tau_row('0.8', 'tau0p8', (12.1, 32.2, 96.1), (12.6, 478.9, 0.19)),
            _tau_row('0.5', None, (12.3, 32.4, 95.9), (13.2, 496.4, 0.20)),
            _tau_row('0.2', 'tau0p2', (12.4, 32.6, 95.6), (15.5, 528.6, 0.22)),
            _tau_row('0', 'tau0', (12.4, 32.5, 95.2), (20.1, 869.5, 0.51)),
        )),
    AblationTable(
        key='MAFTP',
        title=('MAFT+ parts on SED ConvNeXt-B: Content-Dependent Transfer '
               '(CDT) and Representation Compensation (RC)'),
        row_header='MAFT+ parts',
        benchmarks=PAPER_BENCHMARKS,
        rows=(
            _maftp_row('none', 'none', (NO_CDT, NO_RC)),
            _maftp_row('+CDT', 'norc', (NO_RC, )),
            _maftp_row('+RC', 'nocdt', (NO_CDT, )),
            _maftp_row('+CDT+RC', None, ()),
        )),
]
# yapf: enable

TABLES: Dict[str, AblationTable] = {t.key: t for t in _TABLE_LIST}
"""All ablation tables by CLI key, in the paper's order."""

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
