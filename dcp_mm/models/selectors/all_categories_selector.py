"""The selector that keeps every category (no selection)."""
from typing import List, Optional

import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from dcp_mm.structures import CategorySelection
from .base_category_selector import BaseCategorySelector


@MODELS.register_module()
class AllCategoriesSelector(BaseCategorySelector):
    """Keep all T categories for every image (CAT-Seg / SED without
    pruning; DCP-CLIP's "w/o DCS" rows of Table III).

    Also returns the image-level logits ``logit_scale * cos(f_c, E)``
    (DCP-CLIP Eq. 1 before the softmax), which the TGA neck's class score
    reads. The segmentor uses this selector when ``selector=None``.

    Args:
        logit_scale: lambda of Eq. 1 (CLIP's 100).

    Shapes:
        cls_embed: (B, D); dense_embeds: (B, D, h, w) (unused);
        text_embeds: (T, D) template-averaged, L2-normalised;
        gt_categories: ignored (every category is kept).
        returns: :class:`~dcp_mm.structures.CategorySelection` with
        indices (B, T) = 0..T-1, all valid, and cls_logits (B, T).

    Raises:
        ValueError: image and text D differ; ``logit_scale`` <= 0.
    """

    def __init__(self,
                 *,
                 logit_scale: float = 100.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if logit_scale <= 0:
            raise ValueError(f'logit_scale must be > 0, got {logit_scale}')
        self.logit_scale = logit_scale

    def select(self, cls_embed: Tensor, dense_embeds: Tensor,
               text_embeds: Tensor,
               gt_categories: Optional[List[Tensor]]) -> CategorySelection:
        cls_logits = self.logit_scale * F.normalize(
            cls_embed, dim=-1) @ text_embeds.t()
        return CategorySelection.all_categories(cls_embed.shape[0],
                                                text_embeds.shape[0],
                                                cls_embed.device, cls_logits)
