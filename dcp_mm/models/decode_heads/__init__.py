"""Decode heads over cost features."""
from .base_cost_head import BaseCostHead
from .cat_seg_upsample_head import CATSegUpsampleHead
from .dpseg_cost_guided_head import DPSegCostGuidedHead
from .sed_gradual_fusion_head import SEDGradualFusionHead
from .shallow_guided_head import ShallowGuidedUpsampleHead
from .spatial_enhanced_head import DCPSpatialEnhancedHead

__all__ = [
    'BaseCostHead', 'CATSegUpsampleHead', 'DCPSpatialEnhancedHead',
    'DPSegCostGuidedHead', 'SEDGradualFusionHead', 'ShallowGuidedUpsampleHead'
]
