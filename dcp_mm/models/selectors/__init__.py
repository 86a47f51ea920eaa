"""Category selectors: pick the K of T categories that reach the head."""
from .cat_seg_class_pruning import CATSegClassPruning
from .dcp_category_selector import DCPCategorySelector, pad_selections

__all__ = ['DCPCategorySelector', 'pad_selections']
__all__ += ['CATSegClassPruning']
