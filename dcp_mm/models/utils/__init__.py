"""Unregistered helpers of the models that are not layers."""
from .sliding_window import (TEST_CFG_CHOICES, ViewAccumulator, check_test_cfg,
                             window_boxes)
from .vocabulary_mixin import OpenVocabularyMixin

__all__ = [
    'TEST_CFG_CHOICES', 'ViewAccumulator', 'check_test_cfg', 'window_boxes',
    'OpenVocabularyMixin'
]
