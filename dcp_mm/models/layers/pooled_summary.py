"""Pooled output distillation summary of a feature map (PLOP / MAFT+)."""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def pooled_summary(x: Tensor,
                   scales: Sequence[int] = (1, 2, 4),
                   width_before_resize: bool = True) -> Tensor:
    """Multi-scale width / height pooled summary of a feature map.

    MAFT+'s ``_global_pod`` (github.com/jiaosiyu1999/MAFT-Plus, MIT,
    ``maft/modeling/maft/representation_compensation.py``, from PLOP's POD
    loss): a non-square map is bilinearly resized to a square of side
    ``max(h, w)``; for each scale s the square is average-pooled with
    kernel = stride = ``n // s`` (no padding, rows / columns past the last
    whole window dropped), and the pooled grid is summed over its rows and
    over its columns; everything is concatenated, per scale [row sums,
    column sums], without normalisation.

    ``n`` is the width of the map BEFORE the resize in the official code
    (``width_before_resize=True``): only square maps whose side divides by
    every scale give the ideal s x s grids (e.g. 6 x 10 pools a 10 x 10
    square with kernels 10 / 5 / 2). ``width_before_resize=False`` takes the
    side of the resized square instead.

    Args:
        x: (B, C, h, w) feature map.
        scales: pooling scales s (MAFT+: 1, 2, 4).
        width_before_resize: the official kernel rule (see above).

    Returns:
        (B, M) with M = sum over s of 2 * C * g_s, g_s the pooled grid side.

    Raises:
        ValueError: ``x`` is not 4-D, a scale is not a positive int, or the
            map is narrower than a scale (kernel 0).
    """
    if x.dim() != 4:
        raise ValueError(f'expected a (B, C, h, w) map, got {tuple(x.shape)}')
    if not scales or any(
            isinstance(s, bool) or not isinstance(s, int) or s < 1
            for s in scales):
        raise ValueError(f'scales must be positive ints, got {scales!r}')
    b = x.shape[0]
    h, w = x.shape[-2:]
    side = max(h, w)
    if h != w:
        x = F.interpolate(
            x, size=(side, side), mode='bilinear', align_corners=False)
    base = w if width_before_resize else side
    embs = []
    for s in scales:
        kernel = base // s
        if kernel < 1:
            raise ValueError(
                f'a {h}x{w} map is too small for pooling scale {s} (kernel '
                f'{base} // {s} = 0): use smaller scales or larger inputs')
        t = F.avg_pool2d(x, kernel_size=kernel)  # (B, C, g, g)
        # (B, C, g, g) -> (B, C*g): sums over rows, then over columns
        embs += [t.sum(dim=2).reshape(b, -1), t.sum(dim=3).reshape(b, -1)]
    return torch.cat(embs, dim=1)
