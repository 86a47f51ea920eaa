"""Window arithmetic of sliding-window inference (pure functions).

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
``global_view=True``.
"""
from typing import List, NamedTuple, Optional, Sequence

import torch.nn.functional as F
from torch import Tensor

from .arg_checks import check_positive_ints


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


def window_views(image: Tensor, windows: Sequence[Window],
                 window_resize: Optional[Sequence[int]]) -> List[Tensor]:
    """The model inputs of the windows: each ``image[..., y1:y2, x1:x2]``
    resized to ``window_resize`` (None: as cut).

    Shapes: image (B, C, H, W) -> list of (B, C, h_r, w_r).
    """
    return [
        resize_view(image[..., w.y1:w.y2, w.x1:w.x2], window_resize)
        for w in windows
    ]


def global_view(image: Tensor, crop_size: Sequence[int],
                window_resize: Optional[Sequence[int]]) -> Tensor:
    """CAT-Seg's global view: the whole image resized to the window size,
    then (like every view) to ``window_resize``: two resizes, as the
    official code (640 -> 384 -> 336 for ViT-L).

    Shapes: image (B, C, H, W) -> (B, C, h_r, w_r).
    """
    return resize_view(resize_view(image, crop_size), window_resize)
