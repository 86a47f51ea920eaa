"""Visual prompts of DPSeg (Zhao et al., CVPR 2025): containers and helpers.

DPSeg (Sec. "visual prompt encoder" / "dual-prompt cost volume") gives each
category k and template m a visual prompt, an image whose frozen CLIP image
embedding V (K, M, D) joins the text embedding T (K, M, D), and whose
globally pooled encoder stage features V_j (K, M, C_j) give the decoder's
visual cost volumes. This file holds the container passed between the
prompt bank, the necks, the decoder and the prompt refiner (kept out of the
shared ``structures.py``) and the two reconstruction choices about how
prompts meet the P text templates.
"""
from dataclasses import dataclass, replace
from typing import List, Optional

import torch
from torch import Tensor


@dataclass
class VisualPrompts:
    """Visual-prompt embeddings of a vocabulary, optionally per image.

    Leading axes ``L`` are (T,) for a bank's vocabulary, (B, T) once the
    prompts are per image (after test-time refinement) and (B, K) once the
    selected categories are gathered.

    Attributes:
        embeds: (*L, M, D) CLIP image embeddings V, L2-normalised (dim -1);
            rows of invalid prompts are zero.
        stage_embeds: per encoder stage j (res2..res5), (*L, M, C_j) globally
            average-pooled stage features V_j (not normalised; rows of
            invalid prompts are zero).
        valid: (*L, M) bool, False where a category has fewer than M
            prompts (or none: text-only fallback).
    """
    embeds: Tensor
    stage_embeds: List[Tensor]
    valid: Tensor

    @property
    def has_prompt(self) -> Tensor:
        """(*L,) bool: categories with at least one visual prompt."""
        return self.valid.any(dim=-1)

    @property
    def num_prompts(self) -> int:
        """M, prompt slots per category."""
        return self.valid.shape[-1]

    def per_image(self, batch_size: int) -> 'VisualPrompts':
        """(T, ...) -> (B, T, ...) by expansion (no copy)."""
        if self.valid.dim() != 2:
            raise ValueError('per_image expects (T, M) prompts, got valid of '
                             f'shape {tuple(self.valid.shape)}')

        def ex(x: Tensor) -> Tensor:
            return x.unsqueeze(0).expand(batch_size, *x.shape)

        return VisualPrompts(
            ex(self.embeds), [ex(s) for s in self.stage_embeds],
            ex(self.valid))

    def select(self, indices: Tensor) -> 'VisualPrompts':
        """Gather the selected categories: indices (B, K) long.

        (T, M, ...) or (B, T, M, ...) -> (B, K, M, ...).
        """
        if self.valid.dim() == 2:
            # (T, M, D)[B, K] -> (B, K, M, D)
            return VisualPrompts(self.embeds[indices],
                                 [s[indices] for s in self.stage_embeds],
                                 self.valid[indices])
        if self.valid.shape[0] != indices.shape[0]:
            raise ValueError(f'per-image prompts for {self.valid.shape[0]} '
                             f'images, selection for {indices.shape[0]}')

        def gather(x: Tensor) -> Tensor:
            idx = indices.reshape(*indices.shape, *([1] * (x.dim() - 2)))
            return x.gather(1, idx.expand(-1, -1, *x.shape[2:]))

        return VisualPrompts(
            gather(self.embeds), [gather(s) for s in self.stage_embeds],
            gather(self.valid))

    def to(self, device: torch.device) -> 'VisualPrompts':
        return replace(
            self,
            embeds=self.embeds.to(device),
            stage_embeds=[s.to(device) for s in self.stage_embeds],
            valid=self.valid.to(device))


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
