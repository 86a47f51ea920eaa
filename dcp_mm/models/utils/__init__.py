"""Unregistered helpers of the models that are not layers."""
from .sliding_window import (TEST_CFG_CHOICES, ViewAccumulator, Window,
                             check_test_cfg, global_view, resize_view,
                             sliding_windows, window_views)
from .vocabulary_mixin import OpenVocabularyMixin

__all__ = [
    'TEST_CFG_CHOICES', 'ViewAccumulator', 'Window', 'check_test_cfg',
    'global_view', 'resize_view', 'sliding_windows', 'window_views',
    'OpenVocabularyMixin'
]
