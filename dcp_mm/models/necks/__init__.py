"""Cost-feature necks: turn image and text embeddings into cost features."""
from .text_guided_align_neck import DCPTextGuidedAlignNeck

__all__ = ['DCPTextGuidedAlignNeck']
