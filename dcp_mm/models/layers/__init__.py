"""Unregistered building blocks shared by the registered modules."""
from .cost_volume import cosine_cost_volume
from .guided_swin_block import GuidedSwinBlock, GuidedWindowAttention
from .structures import CategorySelection, CostFeatures
from .upsample_block import UpsampleBlock
from .vocabulary import (check_vocabulary, load_vocabulary, seen_category_mask,
                         synonyms_of)

__all__ = [
    'cosine_cost_volume', 'GuidedSwinBlock', 'GuidedWindowAttention',
    'CategorySelection', 'CostFeatures', 'UpsampleBlock', 'check_vocabulary',
    'load_vocabulary', 'seen_category_mask', 'synonyms_of'
]
