"""Visual prompts from a folder of images per category name."""
import hashlib
import os
import os.path as osp
from typing import List, Sequence, Tuple

import mmcv
import numpy as np
from mmseg.registry import MODELS

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


@MODELS.register_module()
class ImageFolderPromptSource:
    """Visual prompts read from ``root/<category name>/*.{jpg,png,...}``.

    How users bring the Stable Diffusion images of DPSeg (Zhao et al., CVPR
    2025, Sec. "visual prompt encoder": one image per category and template,
    generated from the same text prompts; see ``tools/dpseg/
    generate_visual_prompts.py``) or any real exemplars. The folder of a
    category is its name with ``/`` replaced by ``_``; files are taken in
    sorted order (the generation script names them ``<template index>.png``
    so that prompt m pairs with template m), the first M are used, each
    whole (mask all True). A category without a folder or images gets no
    prompt (text-only fallback).

    Args:
        root: the folder of category folders.

    Call ``source(names, num_prompts)`` -> per name, a list of up to M
    (image (h, w, 3) uint8 RGB, mask (h, w) bool).

    Raises:
        ValueError: ``root`` is not a folder.
    """

    def __init__(self, *, root: str) -> None:
        if not isinstance(root, str) or not root:
            raise ValueError(f'root must be a folder path, got {root!r}')
        self.root = root

    def _check_root(self) -> None:
        if not osp.isdir(self.root):
            raise ValueError(f'visual prompt folder {self.root!r} does not '
                             'exist: generate it with tools/dpseg/'
                             'generate_visual_prompts.py or fix the path')

    @staticmethod
    def folder_name(name: str) -> str:
        """Folder of a category name."""
        return name.replace('/', '_')

    def files(self, name: str, num_prompts: int) -> List[str]:
        """Up to M image paths of a category, sorted."""
        self._check_root()
        folder = osp.join(self.root, self.folder_name(name))
        if not osp.isdir(folder):
            return []
        names = sorted(
            f for f in os.listdir(folder)
            if f.lower().endswith(IMAGE_SUFFIXES))
        return [osp.join(folder, f) for f in names[:num_prompts]]

    def fingerprint(self, names: Sequence[str]) -> str:
        """Paths, sizes and modification times of the files used (any
        M up to 1000)."""
        sha = hashlib.sha1(repr((type(self).__name__, self.root)).encode())
        for name in names:
            for path in self.files(name, 1000):
                st = os.stat(path)
                sha.update(repr((path, st.st_size, st.st_mtime_ns)).encode())
        return sha.hexdigest()

    def __call__(
            self, names: Sequence[str],
            num_prompts: int) -> List[List[Tuple[np.ndarray, np.ndarray]]]:
        out = []
        for name in names:
            crops = []
            for path in self.files(name, num_prompts):
                img = mmcv.imread(path, channel_order='rgb')
                crops.append((img, np.ones(img.shape[:2], dtype=bool)))
            out.append(crops)
        return out
