"""Per-pixel binary cross-entropy over the selected categories."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from dcp_mm.structures import CategorySelection
from ..utils.vocabulary import check_label_values


@MODELS.register_module()
class CategoryBCELoss(nn.Module):
    """Sigmoid BCE of one logit map per selected category (CAT-Seg, DCP-CLIP).

    The target of category k at a pixel is 1 if the pixel's label equals the
    vocabulary index ``selection.indices[b, k]``, else 0 (a pixel whose
    category was not selected is a negative for every selected category).
    Ignored pixels (``ignore_index``) and padded categories
    (``selection.valid`` False) do not count; the loss is the mean over the
    counted (pixel, category) pairs. mmseg's ``CrossEntropyLoss(use_sigmoid)``
    cannot mask per-image padded categories, hence this module.

    Args:
        loss_weight: multiplier of the loss.
        loss_name: key of the loss in the losses dict (must start with
            ``loss_`` for mmseg to back-propagate it).

    Shapes:
        seg_logits: (B, K, H, W) logits; seg_label: (B, H, W) long label
        values in [0, T) or ignore_index; returns a float32 scalar
        (computed in float32 with autocast disabled, any logits dtype).

    Raises:
        ValueError: a label value is neither in [0, T) nor ignore_index
        (T = ``num_classes`` when given).
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_bce') -> None:
        super().__init__()
        if not loss_name.startswith('loss_'):
            raise ValueError(f"loss_name must start with 'loss_', got "
                             f'{loss_name!r}')
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self,
                seg_logits: Tensor,
                seg_label: Tensor,
                selection: CategorySelection,
                ignore_index: int = 255,
                num_classes: Optional[int] = None) -> Tensor:
        if seg_logits.shape[:2] != selection.indices.shape:
            raise ValueError(f'logits {tuple(seg_logits.shape)} do not match '
                             f'the selection {tuple(selection.indices.shape)}')
        if seg_logits.shape[-2:] != seg_label.shape[-2:]:
            raise ValueError(f'logits {tuple(seg_logits.shape[-2:])} and '
                             f'labels {tuple(seg_label.shape[-2:])} differ')
        label = seg_label.long()
        keep = label != ignore_index
        if num_classes is not None:
            check_label_values(label, num_classes, ignore_index,
                               'the label batch')
        # (B, 1, H, W) == (B, K, 1, 1) -> (B, K, H, W)
        target = (label[:, None] == selection.indices[:, :, None, None])
        weight = keep[:, None] & selection.valid[:, :, None, None]
        # float32 with autocast off: under mixed precision the logits may
        # be bf16 / fp16; the loss and its reduction stay in float32
        with torch.autocast(device_type=seg_logits.device.type, enabled=False):
            weight = weight.float()
            loss = F.binary_cross_entropy_with_logits(
                seg_logits.float(), target.float(), reduction='none')
            loss = (loss * weight).sum() / weight.sum().clamp(min=1.0)
        return self.loss_weight * loss


@torch.no_grad()
def constant_prediction_bce(seg_label: Tensor,
                            selection: CategorySelection,
                            ignore_index: int = 255) -> Tensor:
    """BCE of the best image-blind prediction: the "not learning" level.

    For image b, let ``n_b`` be the number of counted (pixel, category)
    pairs of :class:`CategoryBCELoss` (pixels that are not ``ignore_index``
    times the valid selected categories ``K_b``) and ``q_b`` the share of
    positive pairs among them. Predicting the constant probability
    ``q_b`` for every pair minimises the loss among predictions that do not
    look at the pixels, with value the binary entropy
    ``H(q) = -q log q - (1 - q) log(1 - q)``. When every labelled pixel's
    category was selected (training: the ground-truth categories are added
    to the selection), ``q_b = 1 / K_b``: the loss of predicting 1/K for
    every (pixel, category). The returned value is
    ``sum_b n_b H(q_b) / sum_b n_b``, the same pair-weighted mean as the
    loss, so ``loss_bce / loss_weight`` at this value means the model has
    learnt nothing beyond the share of positives; below it, it uses the
    image. Logged as ``bce_baseline`` (no ``loss`` in the name: mmengine's
    ``parse_losses`` sums only keys containing ``'loss'``).

    Args:
        seg_label: (B, H, W) label values in [0, T) or ``ignore_index``.
        selection: :class:`CategorySelection` with (B, K) indices / valid.
        ignore_index: label value that is not counted.

    Returns:
        Detached float32 scalar (0 when nothing is counted).

    Raises:
        ValueError: ``seg_label`` is not (B, H, W) with the selection's B.
    """
    if seg_label.dim() != 3 or seg_label.shape[0] != \
            selection.indices.shape[0]:
        raise ValueError(f'seg_label must be (B, H, W) with B = '
                         f'{selection.indices.shape[0]} (the selection), got '
                         f'{tuple(seg_label.shape)}')
    label = seg_label.long()
    # (B, H, W) -> (B, H*W)
    label = label.flatten(1)
    keep = (label != ignore_index).float()
    valid = selection.valid.float()  # (B, K)
    # (B, 1, H*W) == (B, K, 1) -> (B, K, H*W): positive pairs
    hits = (label[:, None] == selection.indices[:, :, None]).float()
    pos = (hits * keep[:, None] * valid[:, :, None]).sum(dim=(1, 2))
    pairs = keep.sum(dim=1) * valid.sum(dim=1)  # (B, )
    q = pos / pairs.clamp(min=1.0)
    entropy = -(torch.xlogy(q, q) + torch.xlogy(1 - q, 1 - q))
    return ((pairs * entropy).sum() / pairs.sum().clamp(min=1.0)).float()
