"""Visual prompts of DPSeg (Zhao et al., CVPR 2025).

DPSeg (Sec. "visual prompt encoder" / "dual-prompt cost volume") gives each
category k and template m a visual prompt, an image whose frozen CLIP image
embedding V (K, M, D) joins the text embedding T (K, M, D), and whose
globally pooled encoder stage features V_j (K, M, C_j) give the decoder's
visual cost volumes.
"""
from dataclasses import dataclass, replace
from typing import List

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
