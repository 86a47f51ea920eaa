"""Convert official CAT-Seg / SED (detectron2) checkpoints to dcp_mm.

Used by ``tools/model_converters/catseg2dcp.py`` and ``sed2dcp.py``; see
:mod:`.official` for the key correspondence and :mod:`.core` for the rule
engine.
"""
from .core import (EXTRA_STATE_KEY, CheckpointConverter, ConversionReport,
                   KeyRule, check_against_template, swin_shift_mask)
from .official import (CATSEG_CONVERTER, SED_CONVERTER, catseg_rules,
                       convert_checkpoint, detect_config,
                       load_official_checkpoint, model_template,
                       official_train_vocabulary, sed_rules)

__all__ = [
    'EXTRA_STATE_KEY', 'CheckpointConverter', 'ConversionReport', 'KeyRule',
    'check_against_template', 'swin_shift_mask', 'CATSEG_CONVERTER',
    'SED_CONVERTER', 'catseg_rules', 'sed_rules', 'convert_checkpoint',
    'official_train_vocabulary', 'detect_config', 'load_official_checkpoint',
    'model_template'
]
