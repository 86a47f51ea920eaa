"""Atomic checkpoint writes and checked (weights-only) checkpoint loading."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from dcp_mm.engine import (AtomicLocalBackend, CheckpointCorruptedError,
                           UnsafeCheckpointError, atomic_write_bytes,
                           load_local_checkpoint)


def _model():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2)


def test_atomic_backend_is_registered_and_writes(tmp_path):
    backend = get_file_backend(
        str(tmp_path), backend_args=dict(backend='atomic_local'))
    assert isinstance(backend, AtomicLocalBackend)
    backend.put(b'abc', tmp_path / 'sub' / 'f.bin')
    backend.put_text('hello', tmp_path / 'f.txt')
    assert (tmp_path / 'sub' / 'f.bin').read_bytes() == b'abc'
    assert (tmp_path / 'f.txt').read_text() == 'hello'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['f.txt', 'sub']


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / 'ckpt.pth'
    atomic_write_bytes(b'good', target)

    def crash(fd):  # the process dies after writing, before the rename
        raise KeyboardInterrupt('killed')

    monkeypatch.setattr(os, 'fsync', crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(b'new but never finished' * 100, target)
    assert target.read_bytes() == b'good'
    assert [p.name for p in tmp_path.iterdir()] == ['ckpt.pth']


def test_mmengine_loads_local_checkpoints_with_the_checked_loader(tmp_path):
    assert CheckpointLoader._get_checkpoint_loader(str(
        tmp_path / 'x.pth')).__name__ == '_mmengine_local_loader'
    model = _model()
    path = tmp_path / 'ok.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    other = torch.nn.Linear(3, 2)
    load_checkpoint(other, str(path))
    assert torch.equal(other.weight, model.weight)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_checkpoint(other, str(tmp_path / 'missing.pth'))


@pytest.mark.parametrize('keep', [0, 0.5, 0.95])
def test_truncated_checkpoint_gives_a_clear_error(tmp_path, keep):
    path = tmp_path / 'iter_8.pth'
    torch.save({'state_dict': _model().state_dict()}, path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(CheckpointCorruptedError) as info:
        load_checkpoint(_model(), str(path))
    msg = str(info.value)
    assert 'iter_8.pth' in msg and 'truncated or corrupted' in msg
    assert 'last_checkpoint' in msg  # says how to recover
    assert info.value.__cause__ is None  # no pickle / zip traceback chain


def test_not_a_checkpoint_gives_a_clear_error(tmp_path):
    path = tmp_path / 'notes.pth'
    path.write_text('this is not a checkpoint\n' * 10)
    with pytest.raises(CheckpointCorruptedError, match='notes.pth'):
        load_local_checkpoint(str(path))


class _Evil:

    def __reduce__(self):
        return (os.system, ('touch pwned', ))


@pytest.mark.parametrize('new_format', [True, False])
def test_crafted_pickle_is_refused_through_mmengine(tmp_path, monkeypatch,
                                                    new_format):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / 'evil.pth'
    if new_format:
        torch.save({'state_dict': _Evil()}, path)
    else:
        with open(path, 'wb') as f:
            pickle.dump({'state_dict': _Evil()}, f, protocol=2)
    with pytest.raises(UnsafeCheckpointError, match='allow-list') as info:
        load_checkpoint(_model(), str(path))
    assert 'evil.pth' in str(info.value)
    assert isinstance(info.value, pickle.UnpicklingError)
    assert not (tmp_path / 'pwned').exists(), 'the payload ran'


@pytest.mark.parametrize('first', [b'', b'\x80\x02'])
def test_random_bytes_are_not_a_checkpoint_not_an_unsafe_pickle(
        tmp_path, first):
    """Issue 9: random bytes in a .pth were reported as an unsafe pickle,
    with advice to extend the safe-globals allow-list."""
    path = tmp_path / 'random.pth'
    rng = np.random.RandomState(0)
    path.write_bytes(first + rng.bytes(4096))
    with pytest.raises(CheckpointCorruptedError) as info:
        load_checkpoint(_model(), str(path))
    msg = str(info.value)
    assert 'random.pth' in msg
    assert 'not a checkpoint' in msg or 'truncated or corrupted' in msg
    assert not isinstance(info.value, UnsafeCheckpointError)
    assert 'add_safe_globals' not in msg and 'allow-list' not in msg
