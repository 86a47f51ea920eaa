"""The ablation tables of DPSeg (Zhao et al., CVPR 2025) for
``tools/ablation.py``.

DPSeg is reconstructed from the abstract and secondary descriptions (no
official code, full text unavailable); the numbers below are the ones the
secondary sources quote (ConvNeXt-B, A-847 / PC-459 / A-150 / PC-59 /
PAS-20). The ablation rows are evaluated with one round ("Inference I",
no prompt refinement; inferred: the Avg(T, V) row of Table 2 plus the
refinement gain gives the main-table row), so each ablation config sets
``model.prompt_refiner=None`` besides its own change; the full model (two
rounds, "Inference II") is one row of each table. Rows without published
numbers (the alternatives the paper says are worse) have none.

Configs: ``configs/dpseg/ablations/dpseg-<change>_convnextb_cocostuff.py``
(inheriting ``configs/dpseg/dpseg_convnextb_cocostuff.py``).
"""
from typing import Dict, Mapping, Optional, Sequence

from .ablations import PAPER_BENCHMARKS, AblationRow, AblationTable

DPSEG_FULL_CONFIG = 'dpseg/dpseg_convnextb_cocostuff.py'
"""The DPSeg full model (relative to ``configs``)."""

DPSEG_ABLATION_DIR = 'dpseg/ablations'
"""Folder of the DPSeg ablation configs (relative to ``configs``)."""

ONE_ROUND = ('model.prompt_refiner', )
"""Every ablation row is evaluated without prompt refinement."""

_A847_A150 = ('ade847', 'ade150')


def _row(label: str,
         name: Optional[str],
         values: Optional[Sequence[float]] = None,
         keys: Sequence[str] = (),
         benchmarks: Sequence[str] = PAPER_BENCHMARKS) -> AblationRow:
    """``name=None``: the full model; ``values=None``: no paper numbers."""
    paper: Mapping[str, float] = {}
    if values is not None:
        assert len(values) == len(benchmarks), (
            f'{len(values)} numbers for {len(benchmarks)} benchmarks')
        paper = dict(zip(benchmarks, values))
    config = DPSEG_FULL_CONFIG if name is None else \
        f'{DPSEG_ABLATION_DIR}/dpseg-{name}_convnextb_cocostuff.py'
    return AblationRow(
        label=label,
        config=config,
        changed_keys=tuple(keys) + (ONE_ROUND if name else ()),
        paper=paper,
        full_config=DPSEG_FULL_CONFIG)


_FULL_B = (12.5, 20.1, 33.3, 58.4, 96.9)  # DPSeg-B, Inference II
_AVG_B = (12.0, 19.5, 32.9, 58.1, 96.0)  # Table 2, Avg(T, V), Inference I
_FUSION = ('model.neck.fusion', )
_LEVELS = ('model.decode_head.visual_cost_levels', )

# yapf: disable
_TABLE_LIST = [
    AblationTable(
        key='DPSeg-2',
        title='DPSeg Table 2: text and visual prompts in the cost volume',
        row_header='prompts',
        benchmarks=PAPER_BENCHMARKS,
        rows=(
            _row('text only', 'text-only', (10.4, 17.4, 30.6, 56.2, 93.4),
                 _FUSION),
            _row('visual only', 'visual-only',
                 (11.1, 18.0, 31.2, 56.9, 94.5), _FUSION),
            _row('two costs, averaged', 'avg-cost', None, _FUSION),
            _row('two costs, concatenated', 'concat-cost', None, _FUSION),
            _row('Avg(T, V)', 'infer1', _AVG_B),
            _row('Avg(T, V) + refinement', None, _FULL_B),
        )),
    AblationTable(
        key='DPSeg-3',
        title='DPSeg Table 3: visual cost volumes in the decoder',
        row_header='decoder guidance',
        benchmarks=_A847_A150,
        rows=(
            _row('F_c only', 'vcost-none', (10.6, 31.6), _LEVELS,
                 _A847_A150),
            _row('+F_v^2', 'vcost-one', (11.4, 32.1), _LEVELS, _A847_A150),
            _row('upsampled F_c instead', 'upsample-cost', None,
                 _LEVELS + ('model.decode_head.upsample_cost_instead', ),
                 _A847_A150),
            _row('+F_v^{2,3,4}', 'infer1', (12.0, 32.9), (), _A847_A150),
            _row('+F_v^{2,3,4} + refinement', None, (12.5, 33.3), (),
                 _A847_A150),
        )),
]
# yapf: enable

DPSEG_TABLES: Dict[str, AblationTable] = {t.key: t for t in _TABLE_LIST}
"""DPSeg's ablation tables by CLI key."""
