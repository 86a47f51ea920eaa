"""Sliding-window inference over the selected categories only.

CAT-Seg's protocol (https://github.com/cvlab-kaist/CAT-Seg, MIT licence,
``cat_seg_model.py`` ``inference_sliding_window``): overlapping windows and
optionally one global view of the whole image; the per-category
probabilities (sigmoid of the logits) are averaged over the windows that
cover a pixel, then averaged with the global view. Here each view only
carries the categories its selector kept, so memory follows the union U of
the selected categories, not the vocabulary size T.
"""
from typing import List, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from dcp_mm.structures import OVSegLogits

Box = Tuple[int, int, int, int]  # (y1, y2, x1, x2) in pixels

TEST_CFG_CHOICES = dict(
    mode=('whole', 'slide'),
    selection=('model', 'oracle'),
    output_logits=('auto', 'full', 'selected'))
"""Allowed values of the segmentor's ``test_cfg`` keys (first = default)."""


def check_test_cfg(test_cfg: Mapping) -> None:
    """Raise ValueError for a ``test_cfg`` value outside
    :data:`TEST_CFG_CHOICES`, or slide mode without crop_size / stride."""
    for key, allowed in TEST_CFG_CHOICES.items():
        value = test_cfg.get(key, allowed[0])
        if value not in allowed:
            raise ValueError(f'test_cfg.{key} must be one of {allowed}, got '
                             f'{value!r}')
    if test_cfg.get('mode') == 'slide':
        missing = [k for k in ('crop_size', 'stride') if k not in test_cfg]
        if missing:
            raise ValueError(f'test_cfg.mode=slide needs {missing}')


def window_boxes(size: Tuple[int, int], crop: Tuple[int, int],
                 stride: Tuple[int, int]) -> List[Box]:
    """The windows of mmseg's ``slide_inference`` grid.

    Args:
        size: (H, W) of the image in pixels.
        crop: (h, w) window size; stride: (h, w) step between windows.

    Returns:
        (y1, y2, x1, x2) boxes, row-major; the last row / column is moved
        back to end at the image border; windows are cut to the image.

    Raises:
        ValueError: a non-positive crop or stride.
    """
    (h_img, w_img), (h_crop, w_crop), (h_stride, w_stride) = size, crop, stride
    if min(h_crop, w_crop, h_stride, w_stride) < 1:
        raise ValueError(f'crop {crop} and stride {stride} must be positive')
    h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
    boxes = []
    for i in range(h_grids):
        for j in range(w_grids):
            y1 = min(i * h_stride, max(h_img - h_crop, 0))
            x1 = min(j * w_stride, max(w_img - w_crop, 0))
            boxes.append((y1, min(y1 + h_crop,
                                  h_img), x1, min(x1 + w_crop, w_img)))
    return boxes


class ViewAccumulator:
    """Average the probabilities of overlapping views over a growing union
    of categories; stitch the views' dense CLIP embeddings.

    Args:
        batch_size: B; size: (H, W) of the image; num_classes: T;
        fill: the logit of a category an image did not select.
    """

    def __init__(self, batch_size: int, size: Tuple[int, int],
                 num_classes: int, fill: float, device: torch.device) -> None:
        self.size, self.num_classes, self.fill = size, num_classes, fill
        self.categories = torch.zeros(0, dtype=torch.long, device=device)
        self.probs = torch.zeros(batch_size, 0, *size, device=device)
        self.selected = torch.zeros(
            batch_size, 0, dtype=torch.bool, device=device)
        self.count = torch.zeros(1, 1, *size, device=device)
        self.dense: Optional[Tensor] = None
        self.dense_count: Optional[Tensor] = None

    def _positions(self, categories: Tensor) -> Tensor:
        """Grow the union by ``categories``; their channel positions."""
        union = torch.unique(torch.cat([self.categories, categories]))
        if union.numel() != self.categories.numel():
            old = torch.searchsorted(union, self.categories)
            probs = self.probs.new_zeros(
                (self.probs.shape[0], union.numel(), *self.size))
            probs[:, old] = self.probs
            selected = self.selected.new_zeros(
                (self.selected.shape[0], union.numel()))
            selected[:, old] = self.selected
            self.categories, self.probs, self.selected = union, probs, \
                selected
        return torch.searchsorted(self.categories, categories)

    def add_window(self, view: OVSegLogits, box: Box) -> None:
        """Add a window's (B, U_v, h, w) logits covering ``box``."""
        y1, y2, x1, x2 = box
        pos = self._positions(view.categories)
        self.probs[:, pos, y1:y2, x1:x2] += view.logits.sigmoid()
        self.count[:, :, y1:y2, x1:x2] += 1
        self.selected[:, pos] |= view.selected
        if view.dense_embeds is not None:
            self._add_dense(view.dense_embeds, box)

    def _add_dense(self, dense: Tensor, box: Box) -> None:
        """Stitch (B, D, h, w) window embeddings onto the image's grid."""
        y1, y2, x1, x2 = box
        cell = (y2 - y1) / dense.shape[-2]  # pixels per patch cell
        grid = [max(1, round(s / cell)) for s in self.size]
        if self.dense is None:
            self.dense = dense.new_zeros((*dense.shape[:2], *grid))
            self.dense_count = dense.new_zeros((1, 1, *grid))
        cy1, cx1 = round(y1 / cell), round(x1 / cell)
        cy2 = min(grid[0], cy1 + max(1, round((y2 - y1) / cell)))
        cx2 = min(grid[1], cx1 + max(1, round((x2 - x1) / cell)))
        patch = F.interpolate(
            dense, (cy2 - cy1, cx2 - cx1),
            mode='bilinear',
            align_corners=False) if dense.shape[-2:] != (cy2 - cy1,
                                                         cx2 - cx1) else dense
        self.dense[..., cy1:cy2, cx1:cx2] += patch
        self.dense_count[..., cy1:cy2, cx1:cx2] += 1

    def result(self, global_view: Optional[OVSegLogits] = None) -> OVSegLogits:
        """The averaged views as logits ``logit(p)`` (argmax = argmax of the
        averaged probabilities, no clamping ties); with a global view (at
        the image size) the window average is averaged with it, and its
        dense embeddings are used for the whole image."""
        assert bool((self.count > 0).all()), \
            'sliding windows left pixels uncovered'
        self.probs /= self.count
        dense = None if self.dense is None else self.dense / \
            self.dense_count.clamp(min=1)
        if global_view is not None:
            pos = self._positions(global_view.categories)
            self.probs[:, pos] += global_view.logits.sigmoid()
            self.probs /= 2
            self.selected[:, pos] |= global_view.selected
            dense = global_view.dense_embeds
        # float64: logit keeps the order of probabilities down to ~1e-300
        logits = torch.logit(self.probs.double()).clamp(min=self.fill)
        return OVSegLogits(
            logits.to(self.probs.dtype), self.categories, self.selected,
            self.num_classes, self.fill, dense)
