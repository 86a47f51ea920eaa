"""Unregistered helpers of the models that are not layers: vocabularies
and prompt templates, argument checks, sliding-window inference."""
from .arg_checks import check_positive_ints, check_weights_set_once
from .sliding_window import (TEST_CFG_CHOICES, ViewAccumulator, Window,
                             check_test_cfg, resize_view, slide_inference,
                             sliding_windows)
from .vocabulary import (VocabularyLike, check_label_values, check_vocabulary,
                         load_vocabulary, seen_category_mask, split_synonyms)
from .vocabulary_mixin import OpenVocabularyMixin

__all__ = [
    'check_positive_ints', 'check_weights_set_once', 'TEST_CFG_CHOICES',
    'ViewAccumulator', 'Window', 'check_test_cfg', 'resize_view',
    'slide_inference', 'sliding_windows', 'VocabularyLike',
    'check_label_values', 'check_vocabulary', 'load_vocabulary',
    'seen_category_mask', 'split_synonyms', 'OpenVocabularyMixin'
]
