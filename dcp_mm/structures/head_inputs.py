"""What a cost-based decode head is given."""
from dataclasses import dataclass
from typing import List, Optional

from torch import Tensor

from .category_selection import CategorySelection
from .clip_image_features import CLIPImageFeatures
from .cost_features import CostFeatures
from .visual_prompts import VisualPrompts


@dataclass
class HeadInputs:
    """Inputs of a cost-based decode head (``BaseCostHead`` subclasses).

    Attributes:
        cost: the neck's :class:`CostFeatures` (B, K, ...).
        image: the backbone's :class:`CLIPImageFeatures`.
        selection: the K categories of each image (B, K).
        visual_prompts: the selected categories' visual prompts (DPSeg,
            (B, K, M, ...)), or None.
    """
    cost: CostFeatures
    image: CLIPImageFeatures
    selection: CategorySelection
    visual_prompts: Optional[VisualPrompts] = None

    @property
    def inter_feats(self) -> List[Tensor]:
        """The backbone's intermediate features (see
        :class:`CLIPImageFeatures`)."""
        return self.image.inter_feats

    @property
    def attn(self) -> Optional[Tensor]:
        """(B, N, N) last-block attention, or None."""
        return self.image.attn_weights
