"""Cost-feature necks: turn image and text embeddings into cost features."""
from .cat_seg_aggregation_neck import CATSegAggregationNeck
from .text_guided_align_neck import DCPTextGuidedAlignNeck

__all__ = ['DCPTextGuidedAlignNeck']
__all__ += ['CATSegAggregationNeck']
