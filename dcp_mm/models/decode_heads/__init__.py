"""Decode heads over cost features."""
from .spatial_enhanced_head import DCPSpatialEnhancedHead

__all__ = ['DCPSpatialEnhancedHead']
