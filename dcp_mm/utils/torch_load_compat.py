"""Load mmengine checkpoints with ``torch.load(weights_only=True)``.

From torch 2.6 ``torch.load`` defaults to ``weights_only=True``, and mmengine
0.10.7 calls it without the argument. Runner checkpoints hold the
``message_hub`` (mmengine ``HistoryBuffer``, numpy arrays and scalars), which
the safe unpickler refuses (``Unsupported global: GLOBAL
mmengine.logging.history_buffer.HistoryBuffer``): resume, ``load_from``,
``load_checkpoint`` and ``mmseg.apis.init_model`` all fail.

:func:`allow_mmengine_checkpoint_globals` keeps ``weights_only=True`` and
adds exactly the globals those checkpoints need to torch's allow-list
(``torch.serialization.add_safe_globals``). A pickle that references any
other global (e.g. ``os.system``) is still refused. Safety is never switched
off globally (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is not used).
"""
from typing import Any, List

import numpy as np
import torch


def mmengine_checkpoint_safe_globals() -> List[Any]:
    """The globals an mmengine runner checkpoint pickles, besides tensors.

    Measured on mmengine 0.10.7 / numpy 2.x: every entry is needed.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray  # type: ignore
    safe: List[Any] = [
        HistoryBuffer, multiarray._reconstruct, multiarray.scalar, np.ndarray,
        np.dtype, getattr
    ]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [
            getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')
        ]
    return safe


def allow_mmengine_checkpoint_globals() -> bool:
    """Add mmengine's checkpoint globals to torch's weights-only allow-list.

    Returns:
        bool: False on a torch without ``add_safe_globals`` (< 2.4), where
        ``torch.load`` does not default to ``weights_only=True`` anyway.
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:
        return False
    add(mmengine_checkpoint_safe_globals())
    return True
