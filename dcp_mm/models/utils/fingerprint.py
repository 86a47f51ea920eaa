"""Fingerprints of module weights (keys of the embedding caches)."""
import hashlib
import os
import os.path as osp
from typing import Optional, Tuple

import torch
import torch.nn as nn

Fingerprint = Tuple[object, str]
"""(parameter stamp, SHA-1 hex); ``(None, '')`` before the first hash."""


def weights_fingerprint(module: nn.Module,
                        previous: Fingerprint) -> Fingerprint:
    """SHA-1 of ``module``'s parameter names and bytes, recomputed only
    when a parameter changed (version counter, storage, dtype, device).

    Args:
        module: the module whose parameters are hashed.
        previous: the fingerprint returned last time (or ``(None, '')``).

    Returns:
        The new ``(stamp, hex digest)``; keep it for the next call.
    """
    params = list(module.named_parameters())
    stamp = tuple(
        (p._version, p.data_ptr(), p.dtype, p.device) for _, p in params)
    if previous[0] == stamp:
        return previous
    sha = hashlib.sha1()
    for name, p in params:
        sha.update(name.encode())
        data = p.detach().cpu().contiguous().reshape(-1)
        sha.update(data.view(torch.uint8).numpy().tobytes())
    return stamp, sha.hexdigest()


class CachedWeightsMixin:
    """In-memory cache bookkeeping of a module that caches embeddings of
    one of its towers (the text encoder, the visual prompt bank).

    Subclasses set ``self._memory`` (an OrderedDict),
    ``self._fingerprint = (None, '')``, ``self.cache_dir`` (a folder or
    None) and the class attribute ``cache_prefix`` (disk file names), and
    name the cached tower in :meth:`_fingerprinted_module`.
    """

    def _fingerprinted_module(self) -> nn.Module:
        raise NotImplementedError

    def _disk_path(self, key: tuple) -> str:
        """``<cache_dir>/<prefix>_<sha1 of the key>.pth``."""
        digest = hashlib.sha1(repr(key).encode()).hexdigest()
        return osp.join(self.cache_dir, f'{self.cache_prefix}_{digest}.pth')

    def _load_disk(self, key: tuple) -> Optional[dict]:
        """The disk cache entry of ``key`` (a dict), or None (no cache dir,
        no file, or a file of another key)."""
        if self.cache_dir is None:
            return None
        path = self._disk_path(key)
        if not osp.isfile(path):
            return None
        saved = torch.load(path, map_location='cpu', weights_only=True)
        return saved if saved.get('key') == repr(key) else None

    def _save_disk(self, key: tuple, **tensors) -> None:
        """Write ``tensors`` under ``key`` atomically (no-op without a
        cache dir)."""
        if self.cache_dir is None:
            return
        os.makedirs(self.cache_dir, exist_ok=True)
        path = self._disk_path(key)
        tmp = f'{path}.{os.getpid()}.tmp'
        torch.save(dict(key=repr(key), **tensors), tmp)
        os.replace(tmp, path)

    def clear_cache(self) -> None:
        """Forget the in-memory embeddings (the disk cache is kept)."""
        self._memory.clear()
        self._fingerprint = (None, '')

    def weights_fingerprint(self) -> str:
        """SHA-1 of the cached tower's parameter names and bytes."""
        self._fingerprint = weights_fingerprint(self._fingerprinted_module(),
                                                self._fingerprint)
        return self._fingerprint[1]
