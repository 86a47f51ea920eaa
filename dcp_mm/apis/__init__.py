"""dcp_mm.apis: the inferencer (mmseg's ``MMSegInferencer`` conventions)."""
from .inferencer import OVSegInferencer, vocabulary_palette

__all__ = ['OVSegInferencer', 'vocabulary_palette']
