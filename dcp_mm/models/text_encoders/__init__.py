"""Text encoders (registered into ``mmseg.registry.MODELS``)."""
from .open_clip_text_encoder import CLIPTextTower, OpenCLIPTextEncoder

__all__ = ['CLIPTextTower', 'OpenCLIPTextEncoder']
