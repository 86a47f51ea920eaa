"""Dynamic Category Selection (DCS), DCP-CLIP Sec. III-A, Eq. 1-5."""
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from dcp_mm.structures import CategorySelection, pad_selections
from .base_category_selector import BaseCategorySelector


@MODELS.register_module()
class DCPCategorySelector(BaseCategorySelector):
    """Dynamic Category Selection: keep the K of T categories an image shows.

    Eq. 1: ``S_p = softmax(lambda * n(F_p) n(E)^T)`` (B, N, T) and
    ``S_c = softmax(lambda * n(f_c) n(E)^T)`` (B, T), softmax over T.
    Eq. 2: ``S'_p = S_p * (1 - S_c)`` (``suppression='multiply'``, default;
    ``'subtract'``: ``S_p - S_c``), dominant categories suppressed per patch.
    Eq. 3: ``C_p = U_i argmax_t S'_p[i, t]``.
    Eq. 4: ``C_c = {t : S_c[t] > tau}`` (tau = 0 keeps every category).
    Eq. 5: ``C = C_p U C_c`` (``combine='union'``, default, consistent with
    Table VII; ``'intersection'`` is the other reading of the text; an empty
    intersection falls back to C_p).
    In training the ground-truth categories of the image are added
    (``add_gt_in_training``) so that their pixels are supervised.

    The selector has no parameters; it is computed without gradient.

    Args:
        tau: image-level confidence threshold in [0, 1). Default 0.5.
        logit_scale: lambda of Eq. 1 (CLIP's 100).
        suppression: 'multiply' | 'subtract' (Eq. 2).
        combine: 'union' | 'intersection' (Eq. 5).
        add_gt_in_training: add ground-truth categories during training.
        fixed_k: benchmark-only: keep exactly the top ``fixed_k`` categories
            by S_c (ignores Eq. 2-5), so that cost versus K can be measured.

    Shapes:
        cls_embed: (B, D); dense_embeds: (B, D, h, w);
        text_embeds: (T, D) template-averaged, L2-normalised;
        gt_categories: optional list of B tensors of label values in [0, T).
        returns: :class:`CategorySelection` with (B, K) indices / mask and
        the (B, T) logits ``lambda * cos(f_c, E)``.
    """

    def __init__(self,
                 *,
                 tau: float = 0.5,
                 logit_scale: float = 100.0,
                 suppression: str = 'multiply',
                 combine: str = 'union',
                 add_gt_in_training: bool = True,
                 fixed_k: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0.0 <= tau < 1.0:
            raise ValueError(f'tau must be in [0, 1), got {tau}')
        if suppression not in ('multiply', 'subtract'):
            raise ValueError("suppression must be 'multiply' or 'subtract', "
                             f'got {suppression!r}')
        if combine not in ('union', 'intersection'):
            raise ValueError("combine must be 'union' or 'intersection', "
                             f'got {combine!r}')
        if fixed_k is not None and fixed_k < 1:
            raise ValueError(f'fixed_k must be >= 1, got {fixed_k}')
        self.tau = tau
        self.logit_scale = logit_scale
        self.suppression = suppression
        self.combine = combine
        self.add_gt_in_training = add_gt_in_training
        self.fixed_k = fixed_k

    @torch.no_grad()
    def scores(self, cls_embed: Tensor, dense_embeds: Tensor,
               text_embeds: Tensor):
        """Eq. 1-2: (S_c (B, T), S'_p (B, N, T), cls logits (B, T))."""
        text = F.normalize(text_embeds, dim=-1)
        cls_logits = self.logit_scale * F.normalize(
            cls_embed, dim=-1) @ text.t()
        # (B, D, h, w) -> (B, N, D)
        patches = F.normalize(dense_embeds.flatten(2).transpose(1, 2), dim=-1)
        s_p = (self.logit_scale * patches @ text.t()).softmax(dim=-1)
        s_c = cls_logits.softmax(dim=-1)
        if self.suppression == 'multiply':
            s_p = s_p * (1.0 - s_c[:, None, :])
        else:
            s_p = s_p - s_c[:, None, :]
        return s_c, s_p, cls_logits

    def select(self, cls_embed: Tensor, dense_embeds: Tensor,
               text_embeds: Tensor,
               gt_categories: Optional[List[Tensor]]) -> CategorySelection:
        b, t = cls_embed.shape[0], text_embeds.shape[0]
        s_c, s_p, cls_logits = self.scores(cls_embed, dense_embeds,
                                           text_embeds)
        selected = []
        for i in range(b):
            if self.fixed_k is not None:
                k = min(self.fixed_k, t)
                sel = s_c[i].topk(k).indices
            else:
                c_p = torch.unique(s_p[i].argmax(dim=-1))
                c_c = torch.nonzero(s_c[i] > self.tau).flatten()
                if self.combine == 'union':
                    sel = torch.unique(torch.cat([c_p, c_c]))
                else:
                    sel = c_p[torch.isin(c_p, c_c)]
                    if sel.numel() == 0:
                        sel = c_p
            if (self.training and self.add_gt_in_training
                    and gt_categories is not None):
                gt = gt_categories[i].to(sel.device).long()
                sel = torch.unique(torch.cat([sel, gt]))
            selected.append(sel)
        return pad_selections(selected, cls_logits)
