"""DPSeg's semantic-guided prompt refinement (test time only)."""
from typing import Optional, Tuple

import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from dcp_mm.structures import VisualPrompts
from ..utils.arg_checks import check_positive_ints


@MODELS.register_module()
class DPSegPromptRefiner(BaseModule):
    """Replace detected categories' visual prompts by crops of the input.

    DPSeg (Zhao et al., CVPR 2025), Sec. "semantic-guided prompt
    refinement": round I segments with the bank's prompts; for every
    category detected in round I, the object is cropped from the input image
    with its predicted mask and becomes that category's visual prompt;
    undetected categories keep theirs; round II runs the whole model again
    (:meth:`DPSegEncoderDecoder.predict`). Not used in training, no
    parameters, no loss.

    Reconstruction choices (not stated by the sources): a category is
    detected if it is the arg-max label of at least ``min_area`` pixels; the
    crop is the masked bounding box of all its pixels (the bank's
    :meth:`VisualPromptBank.prepare`), one crop per category and image,
    copied into all M prompt slots; both V and the pooled stage features
    V_j are recomputed from the crop; exactly one extra round.

    Args:
        min_area: pixels a category needs in round I to be refined.
        max_categories: refine at most this many categories per image (the
            largest), None = all detected.

    Raises:
        ValueError: bad arguments; shapes that do not fit.
    """

    def __init__(self,
                 *,
                 min_area: int = 16,
                 max_categories: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_positive_ints(min_area=min_area)
        if max_categories is not None:
            check_positive_ints(max_categories=max_categories)
        self.min_area = min_area
        self.max_categories = max_categories

    def detect(self, pred: Tensor, num_classes: int) -> Tensor:
        """(B, H, W) labels -> (B, T) bool detected categories."""
        b = pred.shape[0]
        # (B, H, W) -> (B, T) pixel counts
        counts = torch.zeros(
            b, num_classes, dtype=torch.long, device=pred.device)
        counts.scatter_add_(1,
                            pred.flatten(1).clamp(0, num_classes - 1),
                            torch.ones_like(pred.flatten(1)))
        detected = counts >= self.min_area
        if self.max_categories is not None:
            k = min(self.max_categories, num_classes)
            top = counts.topk(k, dim=1).indices
            keep = torch.zeros_like(detected)
            keep.scatter_(1, top, True)
            detected &= keep
        return detected

    @torch.no_grad()
    def forward(self, inputs: Tensor, pred: Tensor, prompts: VisualPrompts,
                bank) -> Tuple[VisualPrompts, Tensor]:
        """Refined per-image prompts.

        Args:
            inputs: (B, 3, H, W) normalised input images.
            pred: (B, H, W) long round-I labels in [0, T).
            prompts: (T, M, ...) bank prompts or (B, T, M, ...) per image.
            bank: the :class:`VisualPromptBank` that encodes the crops.

        Returns:
            (B, T, M, ...) prompts and (B, T) bool: the refined categories
            (all other entries equal the input prompts).
        """
        if pred.dim() != 3 or pred.shape[0] != inputs.shape[0] or \
                pred.shape[-2:] != inputs.shape[-2:]:
            raise ValueError(f'pred {tuple(pred.shape)} must be (B, H, W) of '
                             f'the inputs {tuple(inputs.shape)}')
        b = inputs.shape[0]
        if prompts.valid.dim() == 2:
            prompts = prompts.per_image(b)
        t = prompts.valid.shape[1]
        detected = self.detect(pred, t)
        embeds = prompts.embeds.clone()
        stages = [s.clone() for s in prompts.stage_embeds]
        valid = prompts.valid.clone()
        pairs = detected.nonzero().tolist()  # [(image, category)]
        if pairs:
            img_idx = torch.tensor([i for i, _ in pairs], device=pred.device)
            cat_idx = torch.tensor([c for _, c in pairs], device=pred.device)
            masks = pred[img_idx] == cat_idx[:, None, None]  # (N, H, W)
            v, vj = bank.encode_masked(inputs[img_idx], masks)
            embeds[img_idx, cat_idx] = v[:, None].to(embeds.dtype)
            for dst, src in zip(stages, vj):
                dst[img_idx, cat_idx] = src[:, None].to(dst.dtype)
            valid[img_idx, cat_idx] = True
        return VisualPrompts(embeds, stages, valid), detected
