"""Crash-safe checkpoint files for mmengine: atomic writes, checked reads.

* :class:`AtomicLocalBackend` (mmengine file backend ``'atomic_local'``)
  writes to a temporary file in the target directory, ``fsync`` s it and
  renames it over the target with :func:`os.replace` (atomic on POSIX and
  Windows): a process killed mid-write leaves the previous file intact and
  at most a ``*.tmp.<pid>`` file, never a truncated checkpoint.
  :class:`~dcp_mm.engine.hooks.AtomicCheckpointHook` saves through it.
* :func:`load_local_checkpoint` replaces mmengine's loader of local paths
  (``CheckpointLoader`` scheme ``''``, used by ``load_checkpoint``,
  ``Runner.resume``, ``load_from`` and ``mmseg.apis.init_model``) by one
  that loads with ``torch.load(weights_only=True)`` (the allow-list of
  :mod:`dcp_mm.utils.torch_load_compat` applies) and turns a truncated or
  corrupt file into :class:`CheckpointCorruptedError` and a refused pickle
  into :class:`UnsafeCheckpointError`, both naming the file and the fix.
  :func:`install_checked_checkpoint_loader` is called by ``import dcp_mm``.
"""
import os
import os.path as osp
import pickle
import zipfile
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.runner.checkpoint import CheckpointLoader

ATOMIC_BACKEND = 'atomic_local'


class CheckpointCorruptedError(RuntimeError):
    """A checkpoint file is truncated or not a torch checkpoint."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint references a global outside the weights-only allow-list
    (it could run code when unpickled) and was refused."""


def _fsync_dir(path: str) -> None:
    """Persist a rename in ``path`` (best effort: not on every OS)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` atomically (temp file + os.replace).

    The temporary file ``<filepath>.tmp.<pid>`` lives in the same directory
    (same file system, so the rename is atomic) and is removed if writing
    fails.
    """
    filepath = os.fspath(filepath)
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    tmp = f'{filepath}.tmp.{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(directory)


@register_backend(ATOMIC_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """mmengine ``LocalBackend`` whose ``put`` / ``put_text`` are atomic.

    Select it with ``backend_args=dict(backend='atomic_local')``.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


def _corrupted(filename: str, err: BaseException) -> CheckpointCorruptedError:
    size = osp.getsize(filename)
    return CheckpointCorruptedError(
        f'checkpoint {filename!r} ({size} bytes) is truncated or corrupted '
        f'and cannot be loaded ({type(err).__name__}: {err}). It was probably '
        'cut short by a crash, a full disk or an incomplete copy. Delete it '
        'and use an earlier checkpoint (for --resume: write the path of an '
        "earlier one into the work_dir's `last_checkpoint` file), or copy "
        'it again.')


def _not_a_checkpoint(filename: str, head: bytes) -> CheckpointCorruptedError:
    return CheckpointCorruptedError(
        f'{filename!r} is not a checkpoint: it is neither a torch zip '
        f'archive nor a pickle (it starts with {head[:8]!r}). Check the '
        'path (a config, an image or a download error page given as the '
        'checkpoint?) or copy the file again.')


def load_local_checkpoint(filename: str,
                          map_location: Optional[Union[str, Callable]] = None,
                          weights_only: bool = True) -> Any:
    """Load a local checkpoint safely, with clear errors.

    Args:
        filename: path of the checkpoint (``~`` expanded).
        map_location: as :func:`torch.load`.
        weights_only: passed to :func:`torch.load`; keep True (allow-listed
            globals only) unless the file is trusted.

    Returns:
        The unpickled checkpoint (usually a dict).

    Raises:
        FileNotFoundError: no file at ``filename``.
        CheckpointCorruptedError: empty, truncated or not a torch file
            (random bytes: "not a checkpoint").
        UnsafeCheckpointError: the pickle needs a global outside the
            allow-list (e.g. ``os.system``): refused, nothing was executed.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    if osp.getsize(filename) == 0:
        raise _corrupted(filename, EOFError('the file is empty'))
    with open(filename, 'rb') as f:
        head = f.read(8)
    # torch >= 1.6 writes a zip archive ('PK' first, also when truncated),
    # older torch a pickle (PROTO opcode 0x80 first): anything else is not
    # a checkpoint at all
    if not head.startswith((b'PK', b'\x80')):
        raise _not_a_checkpoint(filename, head)
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as err:
        if 'GLOBAL' in str(err):  # a refused global, not garbage
            raise UnsafeCheckpointError(
                f'refused to load checkpoint {filename!r}: it references '
                'Python globals outside the weights-only allow-list, so '
                'unpickling it could run arbitrary code. Details from '
                f'torch.load: {err}. Only if you trust its source, add the '
                'needed classes with torch.serialization.add_safe_globals.'
            ) from None
        raise _corrupted(filename, err) from None
    except Exception as err:  # noqa: B902  (classified below)
        # a valid zip (torch >= 1.6 format) whose records fail to read is
        # truncated too; a non-zip file is a legacy pickle or garbage, and
        # the weights-only unpickler fails on garbage with any exception
        msg = str(err)
        if (not zipfile.is_zipfile(filename)
                or isinstance(err, (EOFError, zipfile.BadZipFile))
                or 'PytorchStreamReader' in msg or 'unexpected EOF' in msg):
            raise _corrupted(filename, err) from None
        raise


def _mmengine_local_loader(filename: str, map_location=None) -> Any:
    return load_local_checkpoint(filename, map_location=map_location)


def install_checked_checkpoint_loader() -> None:
    """Make mmengine load local checkpoints with :func:`load_local_checkpoint`
    (idempotent; replaces the ``''`` scheme of ``CheckpointLoader``)."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=_mmengine_local_loader, force=True)
