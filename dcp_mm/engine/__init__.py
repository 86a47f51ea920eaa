"""Engine parts registered into mmseg's registries: hooks (vocabulary,
atomic checkpoints, checkpoints that describe their model), the bfloat16
autocast optimizer wrapper; crash-safe and strict checkpoint I/O and the
``--cfg-options`` checker of the tools.

Importing this package registers the ``atomic_local`` mmengine file backend
and makes mmengine load local checkpoints with
:func:`~dcp_mm.engine.checkpoint_io.load_local_checkpoint`
(``weights_only=True``, clear errors for truncated or unsafe files).
"""
from .cfg_options import (CfgOptionsError, check_cfg_options,
                          fix_persistent_workers, format_unknown_cfg_options,
                          parse_cfg_options, unknown_cfg_option_keys)
from .checkpoint_io import (AtomicLocalBackend, CheckpointCorruptedError,
                            UnsafeCheckpointError, atomic_write_bytes,
                            install_checked_checkpoint_loader,
                            load_local_checkpoint)
from .dist_utils import setup_cpu_distributed
from .fsdp_policies import dcp_clip_block_check_fn, dcp_clip_block_wrap_policy
from .hooks import (AtomicCheckpointHook, CLIPActivationCheckpointHook,
                    ModelMetaHook, OVVocabularyHook, RNGStateHook)
from .model_checkpoint import (CheckpointMismatchError, check_checkpoint_fits,
                               load_model_checkpoint)
from .optim import BF16AutocastOptimWrapper

install_checked_checkpoint_loader()

__all__ = [
    'OVVocabularyHook', 'AtomicCheckpointHook', 'BF16AutocastOptimWrapper',
    'AtomicLocalBackend', 'CheckpointCorruptedError', 'UnsafeCheckpointError',
    'atomic_write_bytes', 'load_local_checkpoint',
    'install_checked_checkpoint_loader', 'unknown_cfg_option_keys',
    'format_unknown_cfg_options', 'check_cfg_options', 'parse_cfg_options',
    'CfgOptionsError', 'fix_persistent_workers', 'setup_cpu_distributed',
    'dcp_clip_block_check_fn', 'dcp_clip_block_wrap_policy',
    'CLIPActivationCheckpointHook', 'RNGStateHook', 'ModelMetaHook',
    'CheckpointMismatchError', 'check_checkpoint_fits', 'load_model_checkpoint'
]
