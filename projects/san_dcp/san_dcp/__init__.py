"""SAN + DCP-CLIP components (mmseg project).

Importing this package registers :class:`SANWithTagValidation` (DCP-CLIP's
Tag Validation as SAN's test-time post-processor) and
:class:`SANWithCategorySelection` (DCP-CLIP's Dynamic Category Selection in
front of SAN's head) into ``mmseg.registry.MODELS``. It imports ``dcp_mm``
first (the components, and the mmcv-lite ``mmcv.ops`` shim SAN needs).
"""
import dcp_mm  # noqa: F401  (mmcv.ops shim before mmseg.models)
from .san_clip_embeddings import (san_class_names, san_clip_embeds,
                                  san_text_embeds)
from .san_with_category_selection import (SANWithCategorySelection,
                                          scatter_selected_logits)
from .san_with_tag_validation import SANWithTagValidation

__all__ = [
    'SANWithCategorySelection', 'SANWithTagValidation', 'san_class_names',
    'san_clip_embeds', 'san_text_embeds', 'scatter_selected_logits'
]
