"""Unregistered building blocks shared by the registered modules."""
from .cat_seg_aggregation_layer import CATSegAggregationLayer
from .class_linear_attention import (ClassLinearAttention,
                                     ClassTransformerLayer, linear_attention)
from .cost_volume import cosine_cost_volume
from .gradual_fusion_block import GradualFusionBlock
from .guided_swin_block import GuidedSwinBlock, GuidedWindowAttention
from .upsample_block import UpsampleBlock
from .vocabulary import (check_vocabulary, load_vocabulary, seen_category_mask,
                         synonyms_of)

__all__ = [
    'cosine_cost_volume', 'GuidedSwinBlock', 'GuidedWindowAttention',
    'UpsampleBlock', 'check_vocabulary', 'load_vocabulary',
    'seen_category_mask', 'synonyms_of'
]
__all__ += [
    'CATSegAggregationLayer', 'ClassLinearAttention', 'ClassTransformerLayer',
    'linear_attention', 'GradualFusionBlock'
]
__all__ += [
]
