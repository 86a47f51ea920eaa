"""Convert official CAT-Seg / SED / MAFT+ (detectron2) checkpoints to dcp_mm.

Used by ``tools/model_converters/{catseg,sed,maftp}2dcp.py``; see
:mod:`.official` for the key correspondence and :mod:`.core` for the rule
engine.
"""
from .core import (EXTRA_STATE_KEY, CheckpointConverter, ConversionReport,
                   KeyRule, check_against_template, swin_shift_mask)
from .maftp import (MAFTP_CONVERTER, check_covered_by_template, convert_maftp,
                    convert_maftp_checkpoint, maftp_rules)
from .official import (CATSEG_CONVERTER, SED_CONVERTER, catseg_rules,
                       convert_checkpoint, detect_config,
                       load_official_checkpoint, model_template,
                       official_train_vocabulary, sed_rules)

__all__ = [
    'EXTRA_STATE_KEY', 'CheckpointConverter', 'ConversionReport', 'KeyRule',
    'check_against_template', 'swin_shift_mask', 'CATSEG_CONVERTER',
    'SED_CONVERTER', 'catseg_rules', 'sed_rules', 'convert_checkpoint',
    'official_train_vocabulary', 'detect_config', 'load_official_checkpoint',
    'model_template', 'MAFTP_CONVERTER', 'maftp_rules', 'convert_maftp',
    'convert_maftp_checkpoint', 'check_covered_by_template'
]
