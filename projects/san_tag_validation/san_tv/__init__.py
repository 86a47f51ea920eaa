"""SAN + DCP-CLIP Tag Validation (mmseg project).

Importing this package registers :class:`SANWithTagValidation` into
``mmseg.registry.MODELS``. It imports ``dcp_mm`` first (``DCPTagValidator``,
the mmcv-lite ``mmcv.ops`` shim SAN needs).
"""
import dcp_mm  # noqa: F401  (mmcv.ops shim before mmseg.models)
from .san_clip_embeddings import (san_class_names, san_clip_embeds,
                                  san_text_embeds)
from .san_with_tag_validation import SANWithTagValidation

__all__ = [
    'SANWithTagValidation', 'san_class_names', 'san_clip_embeds',
    'san_text_embeds'
]
