"""The inference result of an open-vocabulary segmentor."""
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch import Tensor

from .category_selection import CategorySelection


@dataclass
class OVSegLogits:
    """Logits of the selected categories only: memory follows K, not T.

    Attributes:
        logits: (B, U, H, W) logits at the input size of the U categories
            in ``categories``; entries of categories an image did not
            select hold ``fill``.
        categories: (U,) long, ascending vocabulary indices of the
            channels (the union of the selections of the batch, over all
            sliding windows).
        selected: (B, U) bool, which channels each image selected.
        num_classes: T, the vocabulary size.
        fill: the logit of a category that was not selected.
        dense_embeds: (B, D, h, w) dense CLIP embeddings of the whole
            image (for Tag Validation), or None.
    """
    logits: Tensor
    categories: Tensor
    selected: Tensor
    num_classes: int
    fill: float
    dense_embeds: Optional[Tensor] = None

    @classmethod
    def from_selection(cls,
                       logits: Tensor,
                       selection: CategorySelection,
                       num_classes: int,
                       fill: float,
                       dense_embeds: Optional[Tensor] = None) -> 'OVSegLogits':
        """(B, K, H, W) logits of a :class:`CategorySelection` -> U
        channels shared by the batch (U = the union of the selections)."""
        cats = selection.union()
        b = logits.shape[0]
        # position of each (B, K) selected index among the U channels
        pos = torch.searchsorted(cats, selection.indices.contiguous())
        out = logits.new_full((b, cats.numel() + 1, *logits.shape[2:]), fill)
        index = torch.where(selection.valid, pos,
                            torch.full_like(pos, cats.numel()))
        out.scatter_(1, index[:, :, None, None].expand_as(logits).contiguous(),
                     logits)
        selected = torch.zeros(
            b, cats.numel() + 1, dtype=torch.bool, device=logits.device)
        selected.scatter_(1, index, True)
        return cls(out[:, :-1], cats, selected[:, :-1], num_classes, fill,
                   dense_embeds)

    def full(self) -> Tensor:
        """(B, T, H, W) logits over the whole vocabulary (``fill`` for the
        categories no image selected). Costs T x H x W memory."""
        b, _, h, w = self.logits.shape
        out = self.logits.new_full((b, self.num_classes, h, w), self.fill)
        out[:, self.categories] = self.logits
        return out

    def selected_mask(self) -> Tensor:
        """(B, T) bool, the categories each image selected."""
        b = self.selected.shape[0]
        out = self.selected.new_zeros((b, self.num_classes))
        out[:, self.categories] = self.selected
        return out

    def labels(self, logits: Optional[Tensor] = None) -> Tensor:
        """(B, H, W) long vocabulary indices of the argmax over the U
        channels of ``logits`` (default: :attr:`logits`)."""
        logits = self.logits if logits is None else logits
        return self.categories[logits.argmax(dim=1)]

    def for_image(self,
                  i: int,
                  ori_shape: Optional[Sequence[int]] = None,
                  padding: Sequence[int] = (0, 0, 0, 0),
                  flip: Optional[str] = None,
                  full: bool = False) -> Tuple[Tensor, Tensor]:
        """Image i's logits at its original size (mmseg's
        ``postprocess_result`` steps).

        Args:
            i: the image in the batch.
            ori_shape: (H, W) to resize to (bilinear); None keeps the size.
            padding: (left, right, top, bottom) pixels to cut first.
            flip: None, 'horizontal' or 'vertical' (undone).
            full: return all T channels instead of the U selected ones.

        Returns:
            (C, H, W) logits and (C,) long vocabulary indices of the
            channels (C = T with ``full``, else U).
        """
        left, right, top, bottom = padding
        h, w = self.logits.shape[-2:]
        logits = self.logits[i:i + 1, :, top:h - bottom, left:w - right]
        if flip is not None:
            logits = logits.flip(dims=(3, ) if flip == 'horizontal' else (2, ))
        if ori_shape is not None:
            logits = F.interpolate(
                logits, tuple(ori_shape[:2]), mode='bilinear')
        logits, categories = logits[0], self.categories
        if full:
            out = logits.new_full((self.num_classes, *logits.shape[1:]),
                                  self.fill)
            out[categories] = logits
            logits = out
            categories = torch.arange(
                self.num_classes, device=categories.device)
        return logits, categories

    def to_data_sample(self, i: int, sample: SegDataSample,
                       vocabulary: List[str],
                       test_cfg: Mapping) -> SegDataSample:
        """Write image i's prediction into ``sample`` (mmseg's format).

        Sets ``seg_logits`` (C, H, W) at ``ori_shape`` (padding cut, flip
        undone; C = T with ``test_cfg.output_logits='full'``, or 'auto'
        (default) while T x H x W <= ``test_cfg.max_full_logits`` (2^26);
        else the U selected channels), ``pred_sem_seg`` (1, H, W)
        long vocabulary indices (argmax; no sigmoid threshold even for
        T = 1), and the metainfo ``logit_categories`` (vocabulary index of
        each channel) and ``selected_categories`` (names of the categories
        this image selected).

        Returns:
            ``sample``, modified in place.
        """
        meta = sample.metainfo
        h, w = meta['ori_shape'][:2]
        mode = test_cfg.get('output_logits', 'auto')
        full = mode == 'full' or mode == 'auto' and len(
            vocabulary) * h * w <= test_cfg.get('max_full_logits', 2**26)
        padding = meta.get('img_padding_size',
                           meta.get('padding_size', (0, 0, 0, 0)))
        flip = meta.get('flip_direction') if meta.get('flip') else None
        logits, cats = self.for_image(i, meta['ori_shape'], padding, flip,
                                      full)
        sample.set_data(
            dict(
                seg_logits=PixelData(data=logits),
                pred_sem_seg=PixelData(data=cats[logits.argmax(0)][None])))
        chosen = self.categories[self.selected[i]].tolist()
        sample.set_metainfo(
            dict(
                logit_categories=cats.tolist(),
                selected_categories=[vocabulary[c] for c in chosen]))
        return sample
