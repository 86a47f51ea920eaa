"""Image encoders (registered into ``mmseg.registry.MODELS``)."""
from .clip_vit_backbone import CLIPImageFeatures, CLIPViTBackbone

__all__ = ['CLIPImageFeatures', 'CLIPViTBackbone']
