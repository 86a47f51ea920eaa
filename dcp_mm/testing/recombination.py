"""Recombination matrix: which parts of DCP-CLIP, CAT-Seg and SED compose.

Every combination of

* backbone: ViT (``CLIPViTBackbone``, with the attention map) or ConvNeXt
  (``CLIPConvNeXtBackbone``), each with the text tower of the same CLIP;
* selector: DCS (``DCPCategorySelector``), CAT-Seg pruning
  (``CATSegClassPruning``) or none (all categories);
* neck: TGA (``DCPTextGuidedAlignNeck``), CAT-Seg aggregation
  (``CATSegAggregationNeck``) or none;
* head: Spatial Enhanced (``DCPSpatialEnhancedHead``), CAT-Seg upsampling
  (``CATSegUpsampleHead``), SED gradual fusion (``SEDGradualFusionHead``)
  without or with category early rejection (CER);
* TV (``DCPTagValidator``) on or off

is built on the tiny random CLIP architectures ('dcp-tiny',
'dcp-tiny-convnext'; no download). A combination either composes, then one
training step (forward, backward, SGD step; finite loss) and one prediction
run, or it is refused at build time with a
:class:`~dcp_mm.structures.CompositionError` naming both parts (raised by
the parts' typed specs, :mod:`dcp_mm.structures`). A combination that
builds but fails to train or predict is reported as ``failed`` (a spec
that is too weak). ``tools/analysis/build_matrix.py`` prints the matrix;
``tests/test_testing/test_recombination.py`` runs it.
"""
import copy
import csv
import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Union

import torch
from mmengine.optim import OptimWrapper
from mmseg.registry import MODELS

from dcp_mm.structures import CompositionError
from . import (TINY_BACKBONES, TINY_HEADS, TINY_NECKS, TINY_POST_PROCESSORS,
               TINY_SELECTORS, TINY_TEMPLATES, TINY_VOCABULARY,
               random_seg_batch, tiny_preprocessor)

# the tiny parts, by display name
BACKBONES = TINY_BACKBONES
SELECTORS = TINY_SELECTORS
NECKS = TINY_NECKS
HEADS = TINY_HEADS
TAG_VALIDATION = TINY_POST_PROCESSORS

STATUSES = ('composes', 'refused', 'failed')


@dataclass(frozen=True)
class Combination:
    """One choice of every part (keys of the tables above)."""
    backbone: str
    selector: str
    neck: str
    head: str
    tv: str

    def model_cfg(self, size: int = 64) -> dict:
        """The tiny ``OpenVocabEncoderDecoder`` config of this choice."""
        backbone = copy.deepcopy(BACKBONES[self.backbone])
        return dict(
            type='OpenVocabEncoderDecoder',
            data_preprocessor=tiny_preprocessor(size),
            pretrained=None,
            backbone=backbone,
            text_encoder=dict(
                type='OpenCLIPTextEncoder',
                model_name=backbone['model_name'],
                templates=list(TINY_TEMPLATES),
                finetune='frozen'),
            selector=copy.deepcopy(SELECTORS[self.selector]),
            neck=copy.deepcopy(NECKS[self.neck]),
            decode_head=copy.deepcopy(HEADS[self.head]),
            post_processor=copy.deepcopy(TAG_VALIDATION[self.tv]),
            train_vocabulary=list(TINY_VOCABULARY),
            test_cfg=dict(mode='whole'))


@dataclass
class CombinationResult:
    """Outcome of one combination.

    Attributes:
        status: 'composes' (built, trained one step, predicted), 'refused'
            (CompositionError at build time) or 'failed' (built, then an
            error, or another error at build time).
        error: the error message ('' when it composes).
        loss: the training loss of the step (None unless it composes).
        seconds: wall time of build + train + predict.
    """
    combination: Combination
    status: str
    error: str = ''
    loss: Optional[float] = None
    seconds: float = 0.0

    @property
    def gist(self) -> str:
        """The error message without shapes and fixes (one line)."""
        return error_gist(self.error)


def combinations() -> List[Combination]:
    """All 2 x 3 x 3 x 4 x 2 = 144 combinations, backbone-major."""
    return [
        Combination(*c) for c in itertools.product(BACKBONES, SELECTORS, NECKS,
                                                   HEADS, TAG_VALIDATION)
    ]


def error_gist(message: str) -> str:
    """One line of a contract error: who needs what from whom.

    'cannot compose A with B: X needs t (shape), which B does not provide.
    Fix: ...' -> 'A needs t from B'; other messages: up to '. Fix:'.
    """
    text = message.split('. Fix:')[0]
    while True:  # drop the (nested) parenthesised shape descriptions
        stripped = re.sub(r'\s*\([^()]*\)', '', text)
        if stripped == text:
            break
        text = stripped
    missing = re.match(
        r'cannot compose (.+?) with (.+?): \S+ needs (.+?), '
        r'which', text)
    if missing:
        return f'{missing[1]} needs {missing[3]} from {missing[2]}'
    return message.split('. Fix:')[0].replace('cannot compose ', '', 1)


def _batch(size: int, batch_size: int, num_classes: int) -> dict:
    """Random 0-255 images and label maps (a strip of ignore_index 255)."""
    return random_seg_batch(batch_size, size, num_classes)


def train_and_predict(model: torch.nn.Module,
                      size: int = 64,
                      batch_size: int = 2) -> float:
    """One training step (SGD) and one prediction on random data.

    Returns:
        The training loss (finite).

    Raises:
        RuntimeError: a non-finite loss or parameter, or wrong
            predictions.
    """
    num_classes = len(TINY_VOCABULARY)
    model.train()
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    optim = OptimWrapper(torch.optim.SGD(params.values(), lr=0.01))
    log_vars = model.train_step(_batch(size, batch_size, num_classes), optim)
    loss = float(log_vars['loss'].detach())
    if not torch.isfinite(torch.tensor(loss)):
        raise RuntimeError(f'non-finite training loss {loss}')
    # the wrapper zeroes the gradients after the step: check its result
    bad = [n for n, p in params.items() if not torch.isfinite(p).all()]
    if bad:
        raise RuntimeError(f'non-finite parameters after the step: '
                           f'{bad[:5]}')
    model.eval()
    with torch.no_grad():
        out = model.test_step(_batch(size, batch_size, num_classes))
    logits = out[0].seg_logits.data
    if len(out) != batch_size or logits.shape != (num_classes, size, size):
        raise RuntimeError(f'prediction of {len(out)} samples, logits '
                           f'{tuple(logits.shape)}; expected {batch_size} '
                           f'x {(num_classes, size, size)}')
    pred = out[0].pred_sem_seg.data
    if not torch.isfinite(logits).all() or pred.max() >= num_classes:
        raise RuntimeError('non-finite logits or labels outside the '
                           'vocabulary')
    if (model.post_processor is not None) != ('tv_relabelled' in out[0]):
        raise RuntimeError('tag validation did not run as configured')
    return loss


def try_combination(combination: Combination,
                    size: int = 64,
                    batch_size: int = 2,
                    seed: int = 0) -> CombinationResult:
    """Build one combination; if it builds, train one step and predict."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    try:
        model = MODELS.build(combination.model_cfg(size))
    except CompositionError as e:
        return CombinationResult(combination, 'refused', str(e), None,
                                 time.perf_counter() - start)
    try:
        loss = train_and_predict(model, size, batch_size)
    except Exception as e:  # noqa: BLE001 (a failure is a result here)
        return CombinationResult(combination, 'failed',
                                 f'{type(e).__name__}: {e}', None,
                                 time.perf_counter() - start)
    return CombinationResult(combination, 'composes', '', loss,
                             time.perf_counter() - start)


def run_matrix(
    combos: Optional[Iterable[Combination]] = None,
    size: int = 64,
    batch_size: int = 2,
    progress: Optional[Callable[[CombinationResult], None]] = None
) -> List[CombinationResult]:
    """:func:`try_combination` for every combination (default: all)."""
    results = []
    for combination in (combinations() if combos is None else combos):
        result = try_combination(combination, size, batch_size)
        if progress is not None:
            progress(result)
        results.append(result)
    return results


COLUMNS = ('backbone', 'selector', 'neck', 'head', 'TV', 'result', 'loss',
           'seconds', 'why')


def _row(r: CombinationResult) -> List[str]:
    c = r.combination
    return [
        c.backbone, c.selector, c.neck, c.head, c.tv, r.status,
        '' if r.loss is None else f'{r.loss:.4f}', f'{r.seconds:.2f}', r.gist
    ]


def format_matrix(results: List[CombinationResult]) -> str:
    """A markdown table (one row per combination) and a count line."""
    lines = [
        '| ' + ' | '.join(COLUMNS) + ' |',
        '|' + '|'.join('---' for _ in COLUMNS) + '|'
    ]
    for r in results:
        lines.append('| ' +
                     ' | '.join(cell.replace('|', '/')
                                for cell in _row(r)) + ' |')
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    lines.append('')
    lines.append(f'{len(results)} combinations: ' +
                 ', '.join(f'{n} {s}' for s, n in counts.items()))
    return '\n'.join(lines)


def write_matrix_csv(results: List[CombinationResult],
                     path: Union[str, Path]) -> Path:
    """CSV with the table's columns and the full error message."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(list(COLUMNS) + ['error'])
        for r in results:
            writer.writerow(_row(r) + [r.error])
    return path
