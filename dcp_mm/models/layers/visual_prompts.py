"""Visual prompts of DPSeg (Zhao et al., CVPR 2025): containers and helpers.

DPSeg (Sec. "visual prompt encoder" / "dual-prompt cost volume") gives each
category k and template m a visual prompt, an image whose frozen CLIP image
embedding V (K, M, D) joins the text embedding T (K, M, D), and whose
globally pooled encoder stage features V_j (K, M, C_j) give the decoder's
visual cost volumes. The container passed between the prompt bank, the
necks, the decoder and the prompt refiner is
:class:`dcp_mm.structures.VisualPrompts`; this file holds the two
reconstruction choices about how prompts meet the P text templates.
"""
from typing import Optional

import torch
from torch import Tensor


def align_prompts_to_templates(prompts: Tensor, valid: Tensor,
                               num_templates: int) -> Tensor:
    """Give every text template m one visual prompt (reconstruction choice).

    DPSeg generates one Stable Diffusion image per (k, m) from the m-th
    template, so prompt m pairs with template m (Sec. "visual prompt
    encoder"). Prompts from other sources (folders, exemplar crops) do not
    belong to templates. Rule: with M == P, prompt m pairs with template m
    and an invalid slot takes the mean of the category's valid prompts;
    otherwise every template gets the mean of the valid prompts.
    Categories without prompts get zeros (callers fall back to text).

    Args:
        prompts: (*L, M, C) embeddings (any C: V or a pooled stage V_j).
        valid: (*L, M) bool.
        num_templates: P.

    Returns:
        (*L, P, C), same dtype.
    """
    if prompts.shape[:-1] != valid.shape:
        raise ValueError(f'prompts {tuple(prompts.shape)} and valid '
                         f'{tuple(valid.shape)} disagree')
    w = valid.to(prompts.dtype).unsqueeze(-1)  # (*L, M, 1)
    count = w.sum(dim=-2, keepdim=True).clamp(min=1)
    mean = (prompts * w).sum(dim=-2, keepdim=True) / count  # (*L, 1, C)
    if prompts.shape[-2] == num_templates:
        return torch.where(valid.unsqueeze(-1), prompts, mean)
    return mean.expand(*mean.shape[:-2], num_templates, mean.shape[-1])


def pooled_cosine(feats: Tensor,
                  prompts: Tensor,
                  valid: Optional[Tensor] = None) -> Tensor:
    """Visual cost of one stage, F_v^j = cos(E_j(x, y), V_j(k, m)).

    DPSeg Sec. "cost-volume-guided decoder": the cosine between the image
    encoder's stage-j features and the visual prompt encoder's globally
    pooled stage-j features of the same width.

    Args:
        feats: (B, C, H, W) stage features E_j.
        prompts: (B, K, M, C) pooled prompt features V_j.
        valid: (B, K, M) bool or None; invalid prompt slots (and so
            categories without a prompt) get a zero cost (no visual
            evidence, reconstruction choice).

    Returns:
        (B, K, M, H, W) float32 cosines in [-1, 1].

    Raises:
        ValueError: shapes that do not fit.
    """
    if feats.dim() != 4 or prompts.dim() != 4:
        raise ValueError(f'expected feats (B, C, H, W) and prompts '
                         f'(B, K, M, C), got {tuple(feats.shape)} and '
                         f'{tuple(prompts.shape)}')
    if feats.shape[1] != prompts.shape[-1]:
        raise ValueError(f'stage widths differ: image C={feats.shape[1]}, '
                         f'prompt C={prompts.shape[-1]}; build the prompt '
                         'bank with the backbone\'s CLIP architecture')
    if valid is not None and valid.shape != prompts.shape[:3]:
        raise ValueError(f'valid {tuple(valid.shape)} must be (B, K, M) = '
                         f'{tuple(prompts.shape[:3])}')
    with torch.autocast(device_type=feats.device.type, enabled=False):
        f = torch.nn.functional.normalize(feats.float(), dim=1)
        v = torch.nn.functional.normalize(prompts.float(), dim=-1)
        cost = torch.einsum('bchw,bkmc->bkmhw', f, v)
    if valid is not None:
        cost = cost * valid[..., None, None].to(cost.dtype)
    return cost
