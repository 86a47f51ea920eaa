"""Base class of the decode heads over cost features of K categories."""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.utils import ConfigType, SampleList
from torch import Tensor

from dcp_mm.structures import (CategorySelection, CLIPFeatureSpec,
                               CostFeatureSpec, HeadInputs,
                               require_cost_features)
from ..losses.category_bce_loss import constant_prediction_bce

SELECTION_KEY = 'category_selection'
"""Metainfo key of a training sample: its row of the batch's
:class:`CategorySelection`, ``(indices (K,), valid (K,))``."""


def attach_selection(batch_data_samples: SampleList,
                     selection: CategorySelection) -> None:
    """Record each image's selected categories in its data sample, so that
    :meth:`BaseCostHead.loss_by_feat` keeps mmseg's signature."""
    for i, ds in enumerate(batch_data_samples):
        ds.set_metainfo(
            {SELECTION_KEY: (selection.indices[i], selection.valid[i])})


def selection_of(batch_data_samples: SampleList) -> CategorySelection:
    """Inverse of :func:`attach_selection`.

    Raises:
        KeyError: a sample carries no selection (call the head's ``loss``,
            which attaches it, not ``loss_by_feat`` directly).
    """
    rows = []
    for ds in batch_data_samples:
        if SELECTION_KEY not in ds.metainfo:
            raise KeyError(f'data sample without {SELECTION_KEY!r}: the '
                           'categories of the logits are unknown; use '
                           'loss() or attach_selection() first')
        rows.append(ds.metainfo[SELECTION_KEY])
    return CategorySelection(
        torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows]))


class BaseCostHead(BaseDecodeHead):
    """A decode head that maps cost features to one logit map per selected
    category (DCP-CLIP, CAT-Seg, SED decoders).

    Owns what the cost heads share: the mmseg plumbing (one output map
    per category: ``num_classes=1``, no dropout), the per-pixel loss over
    the K selected categories (``CategoryBCELoss`` by default), and
    prediction resizing. Subclasses implement :meth:`forward` and
    :meth:`check_inputs`.

    Data flow (mmseg's): ``loss(): forward() -> loss_by_feat()``;
    ``predict(): forward() -> predict_by_feat()``.

    Args:
        in_channels: d, channels of the cost feature (the neck's
            cost_dims).
        channels: width of the last decoder layer.
        num_templates: P (injected by the segmentor).
        loss_decode: loss config(s) with the signature of
            ``CategoryBCELoss`` (logits, label, selection, ignore_index).
        **kwargs: :class:`BaseDecodeHead` arguments.
    """

    def __init__(self,
                 *,
                 in_channels: int,
                 channels: int,
                 num_templates: int = 80,
                 loss_decode: ConfigType = dict(type='CategoryBCELoss'),
                 **kwargs) -> None:
        kwargs.setdefault('num_classes', 1)
        kwargs.setdefault('dropout_ratio', 0.0)
        kwargs.setdefault('threshold', 0.5)  # unused: one map per category
        super().__init__(
            in_channels=in_channels,
            channels=channels,
            loss_decode=loss_decode,
            **kwargs)
        self.num_templates = num_templates

    def check_inputs(self, image: CLIPFeatureSpec,
                     cost: Optional[CostFeatureSpec], neck: str) -> None:
        """Raise :class:`~dcp_mm.structures.CompositionError` (naming this
        head and the part at fault) if the backbone's features or the
        neck's cost features do not fit this head. Called at build time.

        Args:
            image: the backbone's feature spec.
            cost: the neck's cost-feature spec, None without a neck.
            neck: the neck's name (``'neck None'`` without one).
        """
        raise NotImplementedError

    @property
    def part(self) -> str:
        """``'decode_head <type>'`` for composition messages."""
        return f'decode_head {type(self).__name__}'

    def forward(self, inputs: HeadInputs) -> Tensor:
        """:class:`HeadInputs` -> (B, K, H', W') logits."""
        raise NotImplementedError

    def loss(self, inputs: HeadInputs, batch_data_samples: SampleList,
             train_cfg: ConfigType) -> dict:
        """Per-pixel loss over the selected categories."""
        attach_selection(batch_data_samples, inputs.selection)
        return self.loss_by_feat(self.forward(inputs), batch_data_samples)

    def _label(self, batch_data_samples: SampleList) -> Tensor:
        """(B, H, W) ground-truth vocabulary indices."""
        return self._stack_batch_gt(batch_data_samples).squeeze(1)

    def _loss_at_label_size(self, loss_fn: nn.Module, seg_logits: Tensor,
                            label: Tensor,
                            selection: CategorySelection) -> Tensor:
        """One loss of (B, K, H', W') logits, upsampled to the label size.
        """
        seg_logits = F.interpolate(
            seg_logits,
            label.shape[-2:],
            mode='bilinear',
            align_corners=self.align_corners)
        return loss_fn(
            seg_logits, label, selection, ignore_index=self.ignore_index)

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: SampleList) -> dict:
        """Losses of (B, K, H', W') logits; each sample carries its
        selection (:func:`attach_selection`)."""
        label = self._label(batch_data_samples)
        selection = selection_of(batch_data_samples)
        losses = {}
        decode = (
            self.loss_decode if isinstance(self.loss_decode, nn.ModuleList)
            else [self.loss_decode])
        for loss_fn in decode:
            losses[loss_fn.loss_name] = losses.get(
                loss_fn.loss_name, 0) + self._loss_at_label_size(
                    loss_fn, seg_logits, label, selection)
        # the BCE of predicting each image's share of positives everywhere
        # (1/K): a curve at this level is not learning (logged, not summed)
        losses['bce_baseline'] = constant_prediction_bce(
            label, selection, self.ignore_index)
        return losses

    def predict_by_feat(self, seg_logits: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        """Logits (B, K, H', W') resized to the padded input size."""
        size = batch_img_metas[0].get('pad_shape',
                                      batch_img_metas[0]['img_shape'])[:2]
        return F.interpolate(
            seg_logits,
            size,
            mode='bilinear',
            align_corners=self.align_corners)


def check_pyramid_inputs(head: BaseCostHead, image: CLIPFeatureSpec,
                         cost: Optional[CostFeatureSpec], neck: str,
                         inter_index: Sequence[int],
                         guidance_proj: Sequence[nn.Module]) -> None:
    """The composition check of the SED-style heads: the backbone pyramid
    levels ``inter_index`` with the input widths of ``guidance_proj``
    (each a ``Sequential`` starting with a conv), then the neck's cost
    features (d, P).

    Raises:
        CompositionError: naming the head and the part at fault.
    """
    image.require_layout(
        head.part, 'pyramid', 'use DCPSpatialEnhancedHead or '
        'CATSegUpsampleHead, which fuse ViT block features')
    for i, proj in zip(inter_index, guidance_proj):
        image.require_channels(
            head.part, i, proj[0].in_channels,
            'leave decode_head.guidance_in_dims and clip_channels to the '
            'segmentor')
    require_cost_features(head.part, cost, head.in_channels,
                          head.num_templates, neck)


def pyramid_guidance_in_dims(clip_channels: int, n: int,
                             given: Optional[Sequence[int]]) -> Sequence[int]:
    """Input widths of the SED-style heads' guidance projections: ``given``,
    or the ConvNeXt pyramid below res5 (C/2, C/4, C/8, ... with C =
    ``clip_channels``, SED's defaults)."""
    if given is not None:
        return given
    return tuple(clip_channels // 2**(i + 1) for i in range(n))
