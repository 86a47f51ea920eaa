"""Decode heads over cost features."""
from .cat_seg_upsample_head import CATSegUpsampleHead
from .dpseg_cost_guided_head import DPSegCostGuidedHead
from .sed_gradual_fusion_head import SEDGradualFusionHead
from .spatial_enhanced_head import DCPSpatialEnhancedHead

__all__ = ['DCPSpatialEnhancedHead']
__all__ += ['CATSegUpsampleHead', 'SEDGradualFusionHead']
__all__ += ['DPSegCostGuidedHead']
