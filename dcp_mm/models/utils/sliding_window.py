"""Sliding-window inference over the selected categories only.

CAT-Seg's test protocol (``CATSeg.inference_sliding_window``,
https://github.com/cvlab-kaist/CAT-Seg/blob/main/cat_seg/cat_seg_model.py,
MIT licence): the image is resized to 640 x 640, cut into windows of
``kernel = 384`` with ``stride = int(384 * (1 - 0.333)) = 256`` (an
``nn.Unfold``: 2 x 2 windows at 0 / 256), plus one global view (the whole
image resized to 384). Every view is then resized to CLIP's resolution
(``clip_resolution``: 384 for ViT-B/16, 336 for ViT-L/14@336px) before the
model; the logits come back resized to the window size (384), go through a
sigmoid and are averaged over overlaps, then ``(windows + global) / 2``.

In test_cfg terms (``mode='slide'``): ``crop_size`` = the window (384),
``stride`` (256), ``window_resize`` = the size every view is resized to
before the model (336 for ViT-L; None = no resize, ViT-B) and
``global_view=True``. Here each view only carries the categories its
selector kept (:class:`ViewAccumulator`), so memory follows the union U of
the selected categories, not the vocabulary size T.
"""
from typing import (Callable, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple)

import torch
import torch.nn.functional as F
from torch import Tensor

from dcp_mm.structures import OVSegLogits
from .arg_checks import check_positive_ints

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


class Window(NamedTuple):
    """One window ``image[..., y1:y2, x1:x2]`` (pixels, end exclusive)."""
    y1: int
    y2: int
    x1: int
    x2: int


def sliding_windows(image_size: Sequence[int], crop_size: Sequence[int],
                    stride: Sequence[int]) -> List[Window]:
    """Windows covering an image, row-major (mmseg's slide inference).

    Per axis, ``n = max(L - crop + stride - 1, 0) // stride + 1`` windows
    start at ``min(i * stride, max(L - crop, 0))`` (the last one is pushed
    back to end at the border); windows larger than the image are cut to
    it. For CAT-Seg (640, crop 384, stride 256) this is ``nn.Unfold``'s
    grid: starts 0 and 256 on each axis.

    Args:
        image_size: (H, W) of the image.
        crop_size: (h_c, w_c) window size.
        stride: (s_h, s_w).

    Returns:
        The windows, row-major (y outer, x inner).

    Raises:
        ValueError: a size or stride that is not a positive int.
    """
    (h, w), (hc, wc), (sh, sw) = image_size, crop_size, stride
    check_positive_ints(
        image_h=h, image_w=w, crop_h=hc, crop_w=wc, stride_h=sh, stride_w=sw)
    h_grids = max(h - hc + sh - 1, 0) // sh + 1
    w_grids = max(w - wc + sw - 1, 0) // sw + 1
    out = []
    for i in range(h_grids):
        for j in range(w_grids):
            y1 = min(i * sh, max(h - hc, 0))
            x1 = min(j * sw, max(w - wc, 0))
            out.append(Window(y1, min(y1 + hc, h), x1, min(x1 + wc, w)))
    return out


def resize_view(view: Tensor, size: Optional[Sequence[int]]) -> Tensor:
    """(B, C, H, W) -> (B, C, *size), bilinear, ``align_corners=False``
    (CAT-Seg's ``F.interpolate`` of views and logits); ``size=None`` or the
    same size returns ``view`` itself."""
    if size is None or tuple(size) == tuple(view.shape[-2:]):
        return view
    return F.interpolate(
        view, tuple(size), mode='bilinear', align_corners=False)


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

    def add_window(self, view: OVSegLogits, box: Window) -> None:
        """Add a window's (B, U_v, h, w) logits covering ``box``."""
        y1, y2, x1, x2 = box
        pos = self._positions(view.categories)
        self.probs[:, pos, y1:y2, x1:x2] += view.logits.sigmoid()
        self.count[:, :, y1:y2, x1:x2] += 1
        self.selected[:, pos] |= view.selected
        if view.dense_embeds is not None:
            self._add_dense(view.dense_embeds, box)

    def _add_dense(self, dense: Tensor, box: Window) -> None:
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

    def result(self, glob: Optional[OVSegLogits] = None) -> OVSegLogits:
        """The averaged views as logits ``logit(p)`` (argmax = argmax of the
        averaged probabilities, no clamping ties). With a global view (at
        any size; CAT-Seg: the window size) its probabilities, resized to
        the image, are averaged with the windows' average, and its dense
        embeddings are used for the whole image."""
        assert bool((self.count > 0).all()), \
            'sliding windows left pixels uncovered'
        self.probs /= self.count
        dense = None if self.dense is None else self.dense / \
            self.dense_count.clamp(min=1)
        if glob is not None:
            pos = self._positions(glob.categories)
            self.probs[:, pos] += resize_view(glob.logits.sigmoid(), self.size)
            self.probs /= 2
            self.selected[:, pos] |= glob.selected
            dense = glob.dense_embeds
        # float64: logit keeps the order of probabilities down to ~1e-300
        logits = torch.logit(self.probs.double()).clamp(min=self.fill)
        return OVSegLogits(
            logits.to(self.probs.dtype), self.categories, self.selected,
            self.num_classes, self.fill, dense)


def slide_inference(view_fn: Callable[..., OVSegLogits], inputs: Tensor,
                    test_cfg: Mapping, num_classes: int,
                    fill: float) -> OVSegLogits:
    """CAT-Seg's sliding-window protocol (see the module docstring) over
    the selected categories only.

    Args:
        view_fn: ``view_fn(view, net_size, direct) -> OVSegLogits`` at the
            view's own size: the network sees the view resized to
            ``net_size``; ``direct`` resizes the head's logits straight to
            the view (CAT-Seg's windows) instead of via the network input.
        inputs: (B, 3, H, W) images.
        test_cfg: ``crop_size``, ``stride``, ``window_resize`` (every view
            resized to it for the network; None: no resize) and
            ``global_view``.
        num_classes: T; fill: the logit of categories not selected.

    Returns:
        :class:`OVSegLogits` (B, U, H, W).
    """
    crop, resize = test_cfg['crop_size'], test_cfg.get('window_resize')
    b, _, h, w = inputs.shape
    acc = ViewAccumulator(b, (h, w), num_classes, fill, inputs.device)
    for win in sliding_windows((h, w), crop, test_cfg['stride']):
        view = inputs[..., win.y1:win.y2, win.x1:win.x2]
        acc.add_window(view_fn(view, resize or crop, resize is not None), win)
    glob = view_fn(resize_view(inputs, crop), resize,
                   True) if test_cfg.get('global_view') else None
    return acc.result(glob)
