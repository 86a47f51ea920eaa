"""The compatibility layers that ``import dcp_mm`` installs."""
import io
import os
import pickle
import sys

import numpy as np
import pytest
import torch

from dcp_mm.utils import has_compiled_mmcv_ops, install_mmcv_ops_shim


@pytest.mark.skipif(has_compiled_mmcv_ops(), reason='full mmcv installed')
def test_mmcv_ops_shim_serves_point_sample_and_guards_others():
    import mmcv.ops
    assert install_mmcv_ops_shim() is True  # idempotent: already there
    # mmseg's modules that import mmcv.ops unguarded now import
    import mmseg.apis  # noqa: F401
    import mmseg.models  # noqa: F401
    import mmseg.visualization  # noqa: F401
    from mmcv.ops import point_sample
    x = torch.arange(16.).reshape(1, 1, 4, 4)
    # point_sample is mmcv's own grid_sample wrapper: corner = value there
    out = point_sample(
        x, torch.tensor([[[0.125, 0.125]]]), align_corners=False)
    assert out.item() == pytest.approx(0.0)
    with pytest.raises(ModuleNotFoundError, match='mmcv._ext'):
        from mmcv.ops import CrissCrossAttention  # noqa: F401
    with pytest.raises(RuntimeError, match='compiled mmcv'):
        mmcv.ops.sigmoid_focal_loss(torch.zeros(1), torch.zeros(1))
    # mmseg's own guard (ModuleNotFoundError) works: the module imported
    from mmseg.models.decode_heads import cc_head
    assert cc_head.CrissCrossAttention is None


def test_shim_is_a_no_op_when_compiled_ops_exist(monkeypatch):
    from dcp_mm.utils import mmcv_compat
    monkeypatch.setitem(sys.modules, 'mmcv.ops', None)
    monkeypatch.delitem(sys.modules, 'mmcv.ops')
    monkeypatch.setattr(mmcv_compat, 'has_compiled_mmcv_ops', lambda: True)
    assert mmcv_compat.install_mmcv_ops_shim() is False
    assert 'mmcv.ops' not in sys.modules


def test_runner_checkpoint_loads_weights_only(tmp_path):
    """mmengine's message hub state loads with weights_only=True."""
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(np.float64(1.5))
    ckpt = dict(
        state_dict=dict(w=torch.ones(2)),
        message_hub=dict(log_scalars={'loss': buf}),
        meta=dict(seed=np.int64(3), arr=np.zeros(3, dtype=np.float32)))
    path = tmp_path / 'ckpt.pth'
    torch.save(ckpt, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded['message_hub']['log_scalars']['loss'].current() == 1.5
    from mmengine.runner import load_checkpoint  # the mmengine path
    model = torch.nn.Module()
    model.register_buffer('w', torch.zeros(2))
    load_checkpoint(model, str(path))
    assert model.w.sum() == 2


class _Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned', ))


def test_crafted_pickle_is_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        pickle.dump({'state_dict': _Evil()}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match='system'):
        torch.load(path, weights_only=True)
    buf = io.BytesIO()
    torch.save({'x': _Evil()}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buf)  # default weights_only=True on torch >= 2.6
