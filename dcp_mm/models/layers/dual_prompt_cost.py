"""DPSeg's dual-prompt cost volume (Zhao et al., CVPR 2025).

Sec. "dual-prompt cost volume generation": with T (K, M, D) the text and V
(K, M, D) the visual-prompt embeddings, ``R = Avg(V + T)`` per (k, m) and
``F_c(x, y, k, m) = cos(E(x, y), R(k, m))`` with E the dense image
embedding; Table 2 compares it with text only, visual only, and two
separate costs averaged or concatenated. Reconstruction choices (the paper
text was not available): T and V are L2-normalised before the average,
weights 0.5 / 0.5, not learned; a category without a visual prompt uses its
text embedding in every mode (text-only fallback, counted by the bank).
"""
from typing import Optional

import torch
from torch import Tensor

from .cost_volume import cosine_cost_volume

PROMPT_FUSIONS = ('avg_embed', 'avg_cost', 'concat_cost', 'text_only',
                  'visual_only')
"""``avg_embed`` is the paper's; the others are Table 2's alternatives."""


def check_fusion(fusion: str) -> str:
    """Refuse unknown fusion names."""
    if fusion not in PROMPT_FUSIONS:
        raise ValueError(f'fusion must be one of {PROMPT_FUSIONS}, got '
                         f'{fusion!r}')
    return fusion


def cost_channels(fusion: str, num_templates: int) -> int:
    """Channels of the cost volume: 2P for ``concat_cost``, else P."""
    check_fusion(fusion)
    return 2 * num_templates if fusion == 'concat_cost' else num_templates


def dual_prompt_cost_volume(dense_embeds: Tensor,
                            text_embeds: Tensor,
                            visual_embeds: Optional[Tensor] = None,
                            has_visual: Optional[Tensor] = None,
                            fusion: str = 'avg_embed') -> Tensor:
    """Cost volume of text and visual prompts.

    * ``text_only``: ``cos(E, T)``, exactly :func:`cosine_cost_volume`;
    * ``visual_only``: ``cos(E, V)``;
    * ``avg_embed`` (paper): ``cos(E, (n(T) + n(V)) / 2)``, n = L2 norm;
    * ``avg_cost``: ``(cos(E, T) + cos(E, V)) / 2``;
    * ``concat_cost``: ``[cos(E, T) ; cos(E, V)]`` along the template axis.

    Categories with ``has_visual`` False use V := T, so their cost is the
    text cost (twice for ``concat_cost``).

    Args:
        dense_embeds: (B, D, h, w) dense image embeddings (any norm).
        text_embeds: (B, K, P, D) text embeddings.
        visual_embeds: (B, K, P, D) visual-prompt embeddings aligned to the
            templates (:func:`~.visual_prompts.align_prompts_to_templates`);
            None only for ``text_only``.
        has_visual: (B, K) bool or None (= all True).
        fusion: one of :data:`PROMPT_FUSIONS`.

    Returns:
        (B, K, P', h, w) float32 cosines in [-1, 1], P' = 2P for
        ``concat_cost``, else P.

    Raises:
        ValueError: unknown fusion, missing visual embeddings, or shapes of
            text and visual embeddings that differ.
    """
    check_fusion(fusion)
    if fusion == 'text_only':
        return cosine_cost_volume(dense_embeds, text_embeds)
    if visual_embeds is None:
        raise ValueError(f'fusion={fusion!r} needs visual_embeds (B, K, P, D)'
                         ': build the segmentor with a visual prompt bank '
                         "or use fusion='text_only'")
    if visual_embeds.shape != text_embeds.shape:
        raise ValueError(f'visual_embeds {tuple(visual_embeds.shape)} must '
                         f'match text_embeds {tuple(text_embeds.shape)}')
    txt = torch.nn.functional.normalize(text_embeds.float(), dim=-1)
    vis = torch.nn.functional.normalize(visual_embeds.float(), dim=-1)
    if has_visual is not None:
        if has_visual.shape != text_embeds.shape[:2]:
            raise ValueError(f'has_visual {tuple(has_visual.shape)} must be '
                             f'(B, K) = {tuple(text_embeds.shape[:2])}')
        # text-only fallback: V := T for categories without prompts
        vis = torch.where(has_visual[:, :, None, None], vis, txt)
    if fusion == 'avg_embed':
        return cosine_cost_volume(dense_embeds, (txt + vis) / 2)
    if fusion == 'visual_only':
        return cosine_cost_volume(dense_embeds, vis)
    cost_t = cosine_cost_volume(dense_embeds, txt)
    cost_v = cosine_cost_volume(dense_embeds, vis)
    if fusion == 'avg_cost':
        return (cost_t + cost_v) / 2
    # (B, K, P, h, w) x 2 -> (B, K, 2P, h, w)
    return torch.cat([cost_t, cost_v], dim=2)
