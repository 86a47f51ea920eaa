"""Building open_clip CLIP models and preparing their towers."""
from .builder import (FINETUNE_MODES, apply_finetune, build_clip_model,
                      clip_paramwise_cfg, list_clip_models,
                      load_clip_state_dict, split_qkv_projections,
                      tokenizer_name)

__all__ = [
    'FINETUNE_MODES', 'apply_finetune', 'build_clip_model',
    'clip_paramwise_cfg', 'list_clip_models', 'load_clip_state_dict',
    'split_qkv_projections', 'tokenizer_name'
]
