"""Utilities: compatibility layers installed once by ``import dcp_mm``."""
from .mmcv_compat import has_compiled_mmcv_ops, install_mmcv_ops_shim
from .torch_load_compat import (allow_mmengine_checkpoint_globals,
                                mmengine_checkpoint_safe_globals)

__all__ = [
    'has_compiled_mmcv_ops', 'install_mmcv_ops_shim',
    'allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_safe_globals'
]
