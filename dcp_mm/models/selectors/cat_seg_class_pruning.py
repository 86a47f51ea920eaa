"""CAT-Seg class pruning (official ``Aggregator.forward`` step 2)."""
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from dcp_mm.structures import CategorySelection, pad_selections
from ..layers.cost_volume import cosine_cost_volume
from ..utils.arg_checks import check_positive_ints
from .base_category_selector import BaseCategorySelector


@MODELS.register_module()
class CATSegClassPruning(BaseCategorySelector):
    """Keep the top ``max_categories`` categories by their best patch cost.

    CAT-Seg cat_seg/modeling/transformer/model.py: with T > ``max_categories``
    (256), the score of a
    category is the maximum over templates and pixels of the initial cosine
    cost volume and the top 256 go on (the rest get the segmentor's
    ``unselected_logit`` -100, as the official scatter); with T <= 256 every
    category is kept (the padding to 256 tokens is done by the neck).

    The segmentor passes template-averaged, renormalised text (T, D); for
    P = 1 (the released CAT-Seg configs) that is exactly the official score:
    the official code normalises its unit-norm text once more
    (``F.normalize`` in ``correlation``), which the segmentor's
    renormalisation already is, so the text is NOT normalised again here
    (bit-exact scores). Given (T, P, D), the maximum also runs over
    templates (official, any P). The kept categories are in the order of
    ``topk(sorted=False)`` (official), not sorted. Ground truth is not used
    (official). No parameters, no gradient.

    Args:
        max_categories: categories kept when T exceeds it (256).
        logit_scale: scale of the returned [CLS] logits (CLIP's 100).

    Shapes:
        cls_embed: (B, D); dense_embeds: (B, D, h, w); text_embeds: (T, D)
        or (T, P, D), L2-normalised; returns :class:`CategorySelection` with
        indices (B, K) (ascending for T <= max_categories, else the official
        ``topk(sorted=False)`` order), K = min(T, max_categories), all valid,
        and cls_logits
        (B, T) = ``logit_scale * cos(cls, mean_P text)``.

    Raises:
        ValueError: bad ``max_categories``, D mismatch or bad text shape.
    """

    def __init__(self,
                 *,
                 max_categories: int = 256,
                 logit_scale: float = 100.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_positive_ints(max_categories=max_categories)
        self.max_categories = max_categories
        self.logit_scale = logit_scale

    @torch.no_grad()
    def scores(self, dense_embeds: Tensor, text_embeds: Tensor) -> Tensor:
        """(B, T) max over templates and pixels of the cosine cost; the
        text (T, D) / (T, P, D) must be L2-normalised (not renormalised)."""
        b = dense_embeds.shape[0]
        text = text_embeds if text_embeds.dim() == 3 else text_embeds[:, None]
        # (T, P, D) -> (B, T, P, D)
        cost = cosine_cost_volume(
            dense_embeds,
            text[None].expand(b, -1, -1, -1),
            normalize_text=False)
        # (B, T, P, h, w) -> (B, T)
        return cost.flatten(2).amax(dim=-1)

    def select(self, cls_embed: Tensor, dense_embeds: Tensor,
               text_embeds: Tensor,
               gt_categories: Optional[List[Tensor]]) -> CategorySelection:
        if text_embeds.dim() not in (2, 3):
            raise ValueError('text_embeds must be (T, D) or (T, P, D), got '
                             f'{tuple(text_embeds.shape)}')
        b, t = cls_embed.shape[0], text_embeds.shape[0]
        text_avg = text_embeds if text_embeds.dim() == 2 else \
            text_embeds.mean(dim=1)
        text_avg = F.normalize(text_avg, dim=-1)
        cls_logits = self.logit_scale * F.normalize(
            cls_embed, dim=-1) @ text_avg.t()
        if t <= self.max_categories:
            keep = torch.arange(t, device=cls_embed.device)
            return pad_selections([keep] * b, cls_logits)
        # official: avg.topk(256, dim=-1, sorted=False)[1], order kept
        top = self.scores(dense_embeds, text_embeds).topk(
            self.max_categories, dim=-1, sorted=False).indices
        return CategorySelection(top, torch.ones_like(top, dtype=torch.bool),
                                 cls_logits)
