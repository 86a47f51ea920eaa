"""Category selectors: pick the K of T categories that reach the head."""
from .all_categories_selector import AllCategoriesSelector
from .base_category_selector import BaseCategorySelector
from .cat_seg_class_pruning import CATSegClassPruning
from .dcp_category_selector import DCPCategorySelector

__all__ = [
    'AllCategoriesSelector', 'BaseCategorySelector', 'CATSegClassPruning',
    'DCPCategorySelector'
]
