"""SAN + DCP-CLIP Dynamic Category Selection (mmseg project).

Importing this package registers :class:`SANWithCategorySelection` into
``mmseg.registry.MODELS``. It imports ``dcp_mm`` (``DCPCategorySelector``,
the mmcv-lite ``mmcv.ops`` shim SAN needs) and reuses
``projects.san_tag_validation.san_tv`` (SAN's CLIP embeddings).
"""
import dcp_mm  # noqa: F401  (mmcv.ops shim before mmseg.models)
from .san_with_category_selection import (SANWithCategorySelection,
                                          scatter_selected_logits)

__all__ = ['SANWithCategorySelection', 'scatter_selected_logits']
