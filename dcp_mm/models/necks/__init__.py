"""Cost-feature necks: turn image and text embeddings into cost features."""
from .base_cost_neck import BaseCostNeck
from .cat_seg_aggregation_neck import CATSegAggregationNeck
from .text_guided_align_neck import DCPTextGuidedAlignNeck

__all__ = ['BaseCostNeck', 'CATSegAggregationNeck', 'DCPTextGuidedAlignNeck']
