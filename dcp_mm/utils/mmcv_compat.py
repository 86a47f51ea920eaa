"""Make MMSegmentation importable on top of ``mmcv-lite``.

``mmcv-lite`` ships the Python sources of ``mmcv.ops`` but not the compiled
``mmcv._ext`` extension, so ``import mmcv.ops`` fails and with it
``mmseg.models``, ``mmseg.datasets``, ``mmseg.apis`` and
``mmseg.visualization`` (they import ``mmcv.ops.point_sample`` without a
guard). :func:`install_mmcv_ops_shim` registers a minimal ``mmcv.ops`` module
that

* serves ``point_sample`` and ``bilinear_grid_sample`` from mmcv's own
  pure-PyTorch ``mmcv/ops/point_sample.py`` (loaded from the installed mmcv,
  not copied);
* serves ``sigmoid_focal_loss`` as a function that raises a clear error when
  called (mmcv has no CPU kernel for it; mmseg's ``FocalLoss`` only calls it
  on CUDA tensors);
* raises ``ModuleNotFoundError`` for every other op, so that mmseg's own
  ``try: from mmcv.ops import X  except ModuleNotFoundError`` guards work.

It does nothing when the compiled ``mmcv._ext`` is importable (full mmcv, the
GPU set-up in the README). It is called by ``import dcp_mm`` before anything
imports mmseg.
"""
import importlib.util
import os
import sys
import types
import warnings
from typing import Any

SHIM_ATTR = '__dcp_mm_shim__'
_SERVED_FROM_POINT_SAMPLE = ('point_sample', 'bilinear_grid_sample',
                             'normalize', 'denormalize', 'generate_grid',
                             'rel_roi_point_to_abs_img_point')


def has_compiled_mmcv_ops() -> bool:
    """Whether the compiled ``mmcv._ext`` extension is importable."""
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except (ImportError, ValueError):
        return False


def _missing_focal_loss(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError(
        'mmcv.ops.sigmoid_focal_loss needs the compiled mmcv (mmcv-lite is '
        'installed). Install full mmcv==2.1.0 for GPU training (see the '
        'README), or use FocalLoss on CPU tensors, which falls back to its '
        'pure-PyTorch implementation.')


class _OpsShim(types.ModuleType):
    """``mmcv.ops`` stand-in: pure-PyTorch ops only."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith('__'):
            raise AttributeError(name)
        raise ModuleNotFoundError(
            f'mmcv.ops.{name} needs the compiled mmcv extension (mmcv._ext),'
            ' but mmcv-lite is installed. Install full mmcv==2.1.0 to use '
            'it (see README, GPU set-up).')


def install_mmcv_ops_shim() -> bool:
    """Register the ``mmcv.ops`` shim if the compiled ops are missing.

    Returns:
        bool: True if the shim is (now or already) installed, False if the
        compiled mmcv is present and nothing was changed.
    """
    existing = sys.modules.get('mmcv.ops')
    if existing is not None:
        return bool(getattr(existing, SHIM_ATTR, False))
    if has_compiled_mmcv_ops():
        return False
    import mmcv
    ops_dir = os.path.join(os.path.dirname(mmcv.__file__), 'ops')
    shim = _OpsShim('mmcv.ops')
    shim.__path__ = []  # a package: ``import mmcv.ops.x`` finds nothing
    setattr(shim, SHIM_ATTR, True)
    # loaded under a private name: as ``mmcv.ops.point_sample`` the import
    # system would bind the module over the function of the same name
    spec = importlib.util.spec_from_file_location(
        '_dcp_mm_mmcv_point_sample', os.path.join(ops_dir, 'point_sample.py'))
    assert spec is not None and spec.loader is not None, (
        f'mmcv/ops/point_sample.py not found under {ops_dir}')
    point_sample_mod = importlib.util.module_from_spec(spec)
    sys.modules['mmcv.ops'] = shim
    spec.loader.exec_module(point_sample_mod)
    for name in _SERVED_FROM_POINT_SAMPLE:
        if hasattr(point_sample_mod, name):
            setattr(shim, name, getattr(point_sample_mod, name))
    shim.sigmoid_focal_loss = _missing_focal_loss
    shim.point_sample_module = point_sample_mod
    mmcv.ops = shim
    # mmcv.cnn.bricks.transformer warns once that the deformable attention
    # op is missing; with mmcv-lite that is expected, so say it once here.
    warnings.filterwarnings(
        'ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    return True
