"""Base class of the category selectors."""
from typing import List, Optional

import torch
from mmengine.model import BaseModule
from torch import Tensor

from dcp_mm.structures import CategorySelection


class BaseCategorySelector(BaseModule):
    """Picks the K of T categories that reach the decoder, without
    gradient (DCP-CLIP's DCS, CAT-Seg's class pruning, all categories).

    :meth:`forward` checks that the image and text embeddings share D and
    calls :meth:`select`, which subclasses implement.

    Shapes:
        cls_embed: (B, D); dense_embeds: (B, D, h, w);
        text_embeds: (T, D) template-averaged, L2-normalised, or (T, P, D);
        gt_categories: optional B tensors of label values in [0, T).
        returns: :class:`~dcp_mm.structures.CategorySelection` (B, K) with
        the image-level logits (B, T).

    Raises:
        ValueError: the image and text embedding dims differ.
    """

    @torch.no_grad()
    def forward(
            self,
            cls_embed: Tensor,
            dense_embeds: Tensor,
            text_embeds: Tensor,
            gt_categories: Optional[List[Tensor]] = None) -> CategorySelection:
        if cls_embed.shape[-1] != text_embeds.shape[-1]:
            raise ValueError(f'image D={cls_embed.shape[-1]} differs from '
                             f'text D={text_embeds.shape[-1]}: use the image '
                             'and text towers of one CLIP model')
        return self.select(cls_embed, dense_embeds, text_embeds, gt_categories)

    def select(self, cls_embed: Tensor, dense_embeds: Tensor,
               text_embeds: Tensor,
               gt_categories: Optional[List[Tensor]]) -> CategorySelection:
        """The selection (see the class docstring for shapes)."""
        raise NotImplementedError
