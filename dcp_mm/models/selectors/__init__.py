"""Category selectors: pick the K of T categories that reach the head."""
from .dcp_category_selector import DCPCategorySelector, pad_selections

__all__ = ['DCPCategorySelector', 'pad_selections']
