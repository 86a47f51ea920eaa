"""Typed containers passed explicitly between the parts of a segmentor."""
from dataclasses import dataclass
from typing import Optional

from torch import Tensor


@dataclass
class CategorySelection:
    """The K of T categories kept for each image (DCS, pruning or all).

    Attributes:
        indices: (B, K) long, vocabulary indices of the kept categories,
            ascending per image; padded entries repeat a valid index.
        valid: (B, K) bool, False for padding (images keep different K).
        cls_logits: (B, T) image-level classification logits
            ``lambda * cos(f_c, E)`` (Eq. 1 before the softmax), or None.
    """
    indices: Tensor
    valid: Tensor
    cls_logits: Optional[Tensor] = None

    @property
    def num_selected(self) -> Tensor:
        """(B,) long, K_b per image."""
        return self.valid.sum(dim=1)


@dataclass
class CostFeatures:
    """Output of a cost-feature neck, input of a cost-based decode head.

    Attributes:
        cost_embed: (B, K, d, h, w) cost-volume feature (refined by the neck).
        cost_volume: (B, K, P, h, w) initial cost volume C_0, cosine
            similarities in [-1, 1].
    """
    cost_embed: Tensor
    cost_volume: Tensor
