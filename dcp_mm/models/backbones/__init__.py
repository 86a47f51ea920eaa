"""Image encoders (registered into ``mmseg.registry.MODELS``)."""
from .clip_convnext_backbone import CLIPConvNeXtBackbone
from .clip_vit_backbone import CLIPImageFeatures, CLIPViTBackbone

__all__ = ['CLIPImageFeatures', 'CLIPViTBackbone']
__all__ += ['CLIPConvNeXtBackbone']
