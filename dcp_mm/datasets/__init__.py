"""dcp_mm.datasets: OVSS benchmarks with CAT-Seg's class names.

Importing this package registers the datasets into ``mmseg.registry``
``DATASETS`` and :class:`LoadOVAnnotations` into ``TRANSFORMS``.
"""
from .ade20k150_dataset import ADE20K150Dataset
from .ade20k847_dataset import ADE20K847Dataset
from .checked_dataset import (BadSampleError, CheckedDataset,
                              check_image_folders, read_bad_sample_report,
                              wrap_checked)
from .class_names import (ADE20K_150_CLASSES, ADE20K_847_CLASSES,
                          COCO_STUFF_171_CLASSES, PASCAL_CONTEXT_59_CLASSES,
                          PASCAL_CONTEXT_459_CLASSES, PASCAL_VOC_20_CLASSES,
                          PASCAL_VOC_20B_CLASSES)
from .coco_stuff171_dataset import COCOStuff171Dataset
from .load_ov_annotations import LoadOVAnnotations
from .pascal_context59_ov_dataset import PascalContext59OVDataset
from .pascal_context459_dataset import PascalContext459Dataset
from .pascal_voc20_dataset import PascalVOC20Dataset
from .pascal_voc20b_dataset import PascalVOC20bDataset

__all__ = [
    'COCOStuff171Dataset', 'ADE20K150Dataset', 'ADE20K847Dataset',
    'PascalContext59OVDataset', 'PascalContext459Dataset',
    'PascalVOC20Dataset', 'PascalVOC20bDataset', 'LoadOVAnnotations',
    'COCO_STUFF_171_CLASSES', 'ADE20K_150_CLASSES', 'ADE20K_847_CLASSES',
    'PASCAL_CONTEXT_59_CLASSES', 'PASCAL_CONTEXT_459_CLASSES',
    'PASCAL_VOC_20_CLASSES', 'PASCAL_VOC_20B_CLASSES'
]
__all__ += [
    'CheckedDataset', 'BadSampleError', 'check_image_folders',
    'read_bad_sample_report', 'wrap_checked'
]
