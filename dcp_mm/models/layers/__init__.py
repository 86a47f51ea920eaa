"""Unregistered building blocks (layers) shared by the registered modules.
"""
from .cat_seg_aggregation_layer import CATSegAggregationLayer
from .class_fusion_stage import ClassFusionStage
from .class_linear_attention import (ClassLinearAttention,
                                     ClassTransformerLayer, linear_attention)
from .cost_volume import cosine_cost_volume
from .gradual_fusion_block import GradualFusionBlock
from .guided_swin_block import GuidedSwinBlock, GuidedWindowAttention
from .pooled_summary import pooled_summary
from .position_embedding import sine_position_embedding
from .shallow_guidance import build_shallow_guidance, shallow_guidance
from .upsample_block import UpsampleBlock

__all__ = [
    'CATSegAggregationLayer', 'ClassFusionStage', 'ClassLinearAttention',
    'ClassTransformerLayer', 'linear_attention', 'cosine_cost_volume',
    'GradualFusionBlock', 'GuidedSwinBlock', 'GuidedWindowAttention',
    'pooled_summary', 'sine_position_embedding', 'build_shallow_guidance',
    'shallow_guidance', 'UpsampleBlock'
]
