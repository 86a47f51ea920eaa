"""DPSeg visual prompts: the bank (frozen CLIP image encoder + cache) and
its prompt sources."""
from .exemplar_crop_prompt_source import ExemplarCropPromptSource
from .image_folder_prompt_source import ImageFolderPromptSource
from .visual_prompt_bank import VisualPromptBank

__all__ = [
    'ExemplarCropPromptSource', 'ImageFolderPromptSource', 'VisualPromptBank'
]
