"""Image encoders (registered into ``mmseg.registry.MODELS``)."""
from .clip_convnext_backbone import CLIPConvNeXtBackbone
from .clip_vit_backbone import CLIPViTBackbone

__all__ = ['CLIPViTBackbone', 'CLIPConvNeXtBackbone']
