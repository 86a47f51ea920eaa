"""dcp_mm: open-vocabulary semantic segmentation for MMSegmentation.

``import dcp_mm`` installs the compatibility layers (mmcv-lite ``mmcv.ops``
shim, weights-only checkpoint allow-list) and registers every dcp_mm module
into ``mmseg.registry``.
"""
# the shims must be installed before anything imports mmseg
# isort: off
from .utils import allow_mmengine_checkpoint_globals, install_mmcv_ops_shim

install_mmcv_ops_shim()
allow_mmengine_checkpoint_globals()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
# isort: on

__version__ = '0.1.0'
__all__ = ['__version__']
