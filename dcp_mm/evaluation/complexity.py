"""DCP-CLIP Table II (efficiency on A-150): parameters and GFLOPs.

Models are built on the ``meta`` device from their configs (shapes only, no
weights, no memory, about a second each), so the ViT-L and ConvNeXt-L rows
need neither CLIP weights nor a GPU:

* parameters: total and learnable (``requires_grad``) of the whole
  segmentor, as the configs set the fine-tuning (CLIP q/v in both towers for
  CAT-Seg and DCP-CLIP, the whole visual tower for SED);
* GFLOPs of one image under the model's own test protocol, counted with
  :class:`torch.utils.flop_counter.FlopCounterMode` on meta tensors
  (matmul / conv / attention; one multiply-add = 1 FLOP, fvcore's and the
  papers' convention): CLIP image encoder + neck + decode head per view, K
  categories per view, times the number of views (``slide``: the windows of
  the 640 x 640 test image plus the global view, each at
  ``test_cfg.window_resize`` or the window size; ``whole``: one view at
  ``test_cfg.crop_size``). The text encoder is not counted: its embeddings
  are cached per vocabulary (its cost per prompt is reported apart).

The paper's numbers (DCP-CLIP Table II, A-150, one RTX 3090) are printed
beside ours with the ratio ours / paper.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from torch.utils.flop_counter import FlopCounterMode

from ..models.utils import sliding_windows
from ..structures import CategorySelection, HeadInputs

CONFIG_ROOT: Path = Path(__file__).resolve().parents[2] / 'configs'
"""``<repo>/configs``."""

TEST_IMAGE_SIZE: Tuple[int, int] = (640, 640)
"""Size of the test image the slide protocol cuts (CAT-Seg's ``out_res``)."""


@dataclass(frozen=True)
class Table2Row:
    """One model of Table II.

    Args:
        label: the model as in the paper.
        config: config file relative to :data:`CONFIG_ROOT`.
        paper: ``(learnable M, total M, GFLOPs)`` of the paper, or None
            (rows the paper does not have).
    """
    label: str
    config: str
    paper: Optional[Tuple[float, float, float]] = None


TABLE2_ROWS: Tuple[Table2Row, ...] = (
    Table2Row('CAT-Seg ViT-L/14@336', 'catseg/catseg_vitl14_cocostuff.py',
              (70.3, 433.7, 2121.1)),
    Table2Row('SED ConvNeXt-L', 'sed/sed_convnextl_cocostuff.py',
              (204.8, 762.3, 674.8)),
    Table2Row('DCP-CLIP ViT-L/14@336', 'dcp/dcp_vitl14_cocostuff.py',
              (80.3, 443.6, 616.2)),
    Table2Row('CAT-Seg ViT-B/16', 'catseg/catseg_vitb16_cocostuff.py'),
    Table2Row('SED ConvNeXt-B', 'sed/sed_convnextb_cocostuff.py'),
    Table2Row('DCP-CLIP ViT-B/16', 'dcp/dcp_vitb16_cocostuff.py'),
)
"""The paper's three models (its ViT-L / ConvNeXt-L setting) and our ViT-B
/ ConvNeXt-B counterparts."""

TABLE2_COLUMNS = ('model', 'views', 'K', 'learnable_M', 'paper_learnable_M',
                  'learnable_ratio', 'total_M', 'paper_total_M', 'total_ratio',
                  'GFLOPs', 'paper_GFLOPs', 'GFLOPs_ratio', 'GFLOPs_one_view',
                  'encoder_GFLOPs_per_view', 'GFLOPs_per_category',
                  'text_GFLOPs_per_prompt')
"""Columns of :func:`table2` rows."""


def build_meta_model(config: str, cfg_options: Optional[dict] = None):
    """Config (path, or relative to :data:`CONFIG_ROOT`) -> segmentor on the
    meta device, ``pretrained=None``, eval mode."""
    path = Path(config)
    if not path.is_file():
        path = CONFIG_ROOT / config
    cfg = Config.fromfile(str(path))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.model.pretrained = None
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    return model.eval()


def count_params(model: torch.nn.Module) -> Tuple[float, float]:
    """(total, learnable) parameters in millions."""
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    learn = sum(p.numel() for p in params if p.requires_grad)
    return total / 1e6, learn / 1e6


def protocol_views(
    test_cfg: dict,
    image_size: Sequence[int] = TEST_IMAGE_SIZE
) -> Tuple[int, Tuple[int, int]]:
    """(number of views, model input size of a view) of a test protocol.

    ``slide``: the windows of ``image_size`` plus the global view if
    ``global_view``; every view enters the model at ``window_resize`` (or
    the window size). ``whole``: one view at ``crop_size``.

    Raises:
        ValueError: unknown mode or a whole mode without ``crop_size``.
    """
    mode = test_cfg.get('mode', 'whole')
    crop = test_cfg.get('crop_size')
    if mode == 'slide':
        wins = sliding_windows(image_size, crop, test_cfg['stride'])
        n = len(wins) + int(bool(test_cfg.get('global_view', False)))
        size = test_cfg.get('window_resize') or crop
        return n, (int(size[0]), int(size[1]))
    if mode == 'whole':
        if crop is None:
            raise ValueError('whole mode needs test_cfg.crop_size to count '
                             'GFLOPs at a fixed size')
        return 1, (int(crop[0]), int(crop[1]))
    raise ValueError(f'unknown test mode {mode!r}')


def _gflops(fn) -> Tuple[float, object]:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = fn()
    return counter.get_total_flops() / 2e9, out


def _selection(k: int, valid_device: str) -> CategorySelection:
    meta = torch.device('meta')
    return CategorySelection(
        torch.arange(k, device=meta)[None],
        torch.ones(1, k, dtype=torch.bool, device=valid_device),
        torch.empty(1, k, device=meta))


def view_gflops(model, size: Sequence[int], k: int) -> Tuple[float, float]:
    """(encoder, neck + head) GFLOPs of one view of ``size`` with K
    categories (batch 1), on meta tensors."""
    x = torch.empty(1, 3, int(size[0]), int(size[1]), device='meta')
    enc, feats = _gflops(lambda: model.backbone(x))
    dim = feats.dense_embeds.shape[1]
    text = torch.empty(
        1, k, model.text_encoder.num_templates, dim, device='meta')
    # a neck that branches on ``selection.valid.all()`` needs real booleans
    for device in ('meta', 'cpu'):
        sel = _selection(k, device)
        try:
            neck, cost = _gflops(
                lambda: model.neck(feats.dense_embeds, text, sel))
            head, _ = _gflops(lambda: model.decode_head.forward(
                HeadInputs(cost, feats, sel)))
            return enc, neck + head
        except (RuntimeError, NotImplementedError):
            if device == 'cpu':
                raise
    raise AssertionError('unreachable')


def text_gflops_per_prompt(model) -> float:
    """GFLOPs of one prompt through the text tower (77 tokens)."""
    tokens = torch.zeros(1, 77, dtype=torch.long, device='meta')
    return _gflops(lambda: model.text_encoder.text(tokens))[0]


def _ratio(ours: float, paper: Optional[float]) -> Optional[float]:
    return None if paper is None else round(ours / paper, 3)


def table2_row(row: Table2Row,
               num_categories: int = 150,
               cfg_options: Optional[dict] = None) -> Dict[str, object]:
    """Count one model: parameters, and GFLOPs of its test protocol with
    K = ``num_categories`` categories per view (A-150: all 150; for
    DCP-CLIP that is the upper bound tau = 0, see ``GFLOPs_per_category``
    for fewer)."""
    model = build_meta_model(row.config, cfg_options)
    total, learn = count_params(model)
    views, size = protocol_views(model.test_cfg)
    enc, rest = view_gflops(model, size, num_categories)
    _, rest_one = view_gflops(model, size, 1)
    per_cat = (rest - rest_one) / max(num_categories - 1, 1)
    gflops = views * (enc + rest)
    paper = row.paper or (None, None, None)
    return dict(
        model=row.label,
        views=f'{views} x {size[0]}',
        K=num_categories,
        learnable_M=round(learn, 2),
        paper_learnable_M=paper[0],
        learnable_ratio=_ratio(learn, paper[0]),
        total_M=round(total, 2),
        paper_total_M=paper[1],
        total_ratio=_ratio(total, paper[1]),
        GFLOPs=round(gflops, 1),
        paper_GFLOPs=paper[2],
        GFLOPs_ratio=_ratio(gflops, paper[2]),
        GFLOPs_one_view=round(enc + rest, 1),
        encoder_GFLOPs_per_view=round(enc, 1),
        GFLOPs_per_category=round(per_cat, 3),
        text_GFLOPs_per_prompt=round(text_gflops_per_prompt(model), 2))


def table2(rows: Sequence[Table2Row] = TABLE2_ROWS,
           num_categories: int = 150) -> List[Dict[str, object]]:
    """All rows of :func:`table2_row`."""
    return [table2_row(r, num_categories) for r in rows]


def format_table2(rows: Sequence[Dict[str, object]]) -> str:
    """Rows -> markdown table (empty cells for missing paper values)."""
    lines = [
        '| ' + ' | '.join(TABLE2_COLUMNS) + ' |',
        '|' + '---|' * len(TABLE2_COLUMNS)
    ]
    for r in rows:
        cells = ['' if r[c] is None else str(r[c]) for c in TABLE2_COLUMNS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
