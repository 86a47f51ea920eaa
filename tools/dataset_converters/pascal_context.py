"""Pascal Context (official release) -> PC-59 PNGs and PC-459 TIFFs.

Reads the official Pascal Context release (``trainval.tar.gz`` of
https://cs.stanford.edu/~roozbeh/pascal-context/, unpacked into the
``VOCdevkit/VOC2010`` folder): ``trainval/<id>.mat`` with ``LabelMap``
(H, W), values 1..459 = line numbers of the release's ``labels.txt``, and
writes under the VOC2010 folder:

* ``SegmentationClassContext/<id>.png``: PC-59, uint8, 0 = background
  (every category outside the 59), 1..59 - mmseg's layout, read by
  ``PascalContext59OVDataset`` with ``reduce_zero_label=True``;
* ``annotations_detectron2/pc459_{split}/<id>.tif``: PC-459, uint16
  ``LabelMap - 1`` = train ids 0..458 (CAT-Seg
  ``datasets/prepare_pascal_context_459.py``); a 0 in ``LabelMap``
  (unlabelled) becomes 459, the ignore index of ``PascalContext459Dataset``
  (CAT-Seg's unsigned ``0 - 1`` would wrap to 65535);
* ``ImageSets/SegmentationContext/{split}.txt``: the ids of each split file
  (VOC2010 ``ImageSets/Main/{train,val}.txt`` by default) that have a
  ``.mat``.

The 59 categories are the release indices ``PC59_INDICES`` (ascending, i.e.
alphabetical like the 59 class names), the mapping of mmseg's
``tools/dataset_converters/pascal_context.py`` and CAT-Seg's
``prepare_pascal_context_59.py`` (``_mapping`` without 0; Apache-2.0 / MIT):
PC-59 label ``i + 1`` is release index ``PC59_INDICES[i]``.

Safe to re-run: outputs are written atomically and existing outputs are
skipped unless ``--overwrite``.

Example::

    python tools/dataset_converters/pascal_context.py \\
        data/VOCdevkit/VOC2010 --splits val
"""
import argparse
import os
import os.path as osp
from functools import partial
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.utils import mkdir_or_exist, track_progress
from PIL import Image

#: release (labels.txt) index of each PC-59 category, ascending.
PC59_INDICES = (2, 9, 18, 19, 22, 23, 25, 31, 33, 34, 44, 45, 46, 59, 65, 68,
                72, 80, 85, 98, 104, 105, 113, 115, 144, 158, 159, 162, 187,
                189, 207, 220, 232, 258, 259, 260, 284, 295, 296, 308, 324,
                326, 347, 349, 354, 355, 360, 366, 368, 397, 415, 416, 420,
                424, 427, 440, 445, 454, 458)
NUM_PC459 = 459


def pc59_lut() -> np.ndarray:
    """(460,) uint8: release index -> PC-59 label (0 background, 1..59)."""
    lut = np.zeros(NUM_PC459 + 1, dtype=np.uint8)
    lut[list(PC59_INDICES)] = np.arange(1, len(PC59_INDICES) + 1)
    return lut


def check_label_map(label: np.ndarray) -> np.ndarray:
    """Validate a release ``LabelMap``; returns it as (H, W) int64.

    Raises:
        ValueError: not 2-D, or values outside 0..459.
    """
    if label.ndim != 2:
        raise ValueError(f'LabelMap must be (H, W), got {label.shape}')
    label = label.astype(np.int64)
    if label.min() < 0 or label.max() > NUM_PC459:
        raise ValueError(f'LabelMap values must be in 0..{NUM_PC459}, got '
                         f'{label.min()}..{label.max()}')
    return label


def to_pc59(label: np.ndarray) -> np.ndarray:
    """(H, W) release indices -> (H, W) uint8 PC-59 (0 = background)."""
    return pc59_lut()[check_label_map(label)]


def to_pc459(label: np.ndarray) -> np.ndarray:
    """(H, W) release indices -> (H, W) uint16 train ids 0..458, 459 =
    ignore (unlabelled)."""
    label = check_label_map(label)
    return np.where(label == 0, NUM_PC459, label - 1).astype(np.uint16)


def load_label_map(path: str) -> np.ndarray:
    """``LabelMap`` of a release ``.mat`` file.

    Raises:
        KeyError: the file has no ``LabelMap``.
    """
    import scipy.io
    mat = scipy.io.loadmat(path)
    if 'LabelMap' not in mat:
        raise KeyError(f'{path} has no LabelMap: is it from the Pascal '
                       'Context trainval release?')
    return mat['LabelMap']


def save_atomic(arr: np.ndarray, path: str, fmt: str) -> None:
    """Save through a temporary file and rename (no partial outputs)."""
    root, ext = osp.splitext(path)
    tmp = f'{root}.{os.getpid()}.tmp{ext}'
    Image.fromarray(arr).save(tmp, format=fmt)
    os.replace(tmp, path)


def convert_file(img_id: str, mat_dir: str, out59: str, out459: str,
                 overwrite: bool) -> Dict[str, str]:
    """Convert one ``.mat``; returns the two output paths."""
    p59 = osp.join(out59, f'{img_id}.png')
    p459 = osp.join(out459, f'{img_id}.tif')
    if overwrite or not (osp.isfile(p59) and osp.isfile(p459)):
        label = load_label_map(osp.join(mat_dir, f'{img_id}.mat'))
        save_atomic(to_pc59(label), p59, 'PNG')
        save_atomic(to_pc459(label), p459, 'TIFF')
    return dict(pc59=p59, pc459=p459)


def read_ids(path: str) -> List[str]:
    with open(path) as f:
        return [ln.split()[0] for ln in f if ln.strip()]


def convert(root: str,
            splits: Sequence[str] = ('train', 'val'),
            split_dir: Optional[str] = None,
            mat_dir: Optional[str] = None,
            overwrite: bool = False) -> List[Dict[str, str]]:
    """Convert the release under ``root`` (VOC2010); returns the outputs.

    Raises:
        FileNotFoundError: no ``.mat`` folder, or a split file is missing.
    """
    mat_dir = mat_dir or osp.join(root, 'trainval')
    if not osp.isdir(mat_dir):
        raise FileNotFoundError(
            f'{mat_dir} not found: unpack the Pascal Context trainval.tar.gz '
            'into the VOC2010 folder (or pass --mat-dir)')
    split_dir = split_dir or osp.join(root, 'ImageSets', 'Main')
    available = {
        osp.splitext(f)[0]
        for f in os.listdir(mat_dir) if f.endswith('.mat')
    }
    out59 = osp.join(root, 'SegmentationClassContext')
    list_dir = osp.join(root, 'ImageSets', 'SegmentationContext')
    mkdir_or_exist(out59)
    mkdir_or_exist(list_dir)
    outputs = []
    for split in splits:
        split_file = osp.join(split_dir, f'{split}.txt')
        if not osp.isfile(split_file):
            raise FileNotFoundError(
                f'split file {split_file} not found (VOC2010 ImageSets/Main '
                'or --split-dir)')
        ids = [i for i in read_ids(split_file) if i in available]
        out459 = osp.join(root, 'annotations_detectron2', f'pc459_{split}')
        mkdir_or_exist(out459)
        tmp = osp.join(list_dir, f'{split}.txt.{os.getpid()}.tmp')
        with open(tmp, 'w') as f:
            f.writelines(f'{i}\n' for i in ids)
        os.replace(tmp, osp.join(list_dir, f'{split}.txt'))
        print(f'{split}: {len(ids)} label maps from {mat_dir}')
        fn = partial(
            convert_file,
            mat_dir=mat_dir,
            out59=out59,
            out459=out459,
            overwrite=overwrite)
        outputs += track_progress(fn, ids)
    return outputs


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Pascal Context release -> PC-59 PNG / PC-459 TIFF')
    parser.add_argument('root', help='the VOCdevkit/VOC2010 folder')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'])
    parser.add_argument(
        '--split-dir',
        help='folder with SPLIT.txt id lists (default ImageSets/Main)')
    parser.add_argument(
        '--mat-dir', help='folder of the .mat files (default ROOT/trainval)')
    parser.add_argument(
        '--overwrite', action='store_true', help='rewrite existing outputs')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    convert(args.root, args.splits, args.split_dir, args.mat_dir,
            args.overwrite)


if __name__ == '__main__':
    main()
