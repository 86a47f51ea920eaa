"""Pascal VOC 2012 -> VOC-20 and VOC-20b train-id PNGs (CAT-Seg layout).

Reads ``VOC2012/SegmentationClass`` (or ``SegmentationClassAug``) label PNGs
of the ids listed in ``ImageSets/Segmentation/{split}.txt`` and writes:

* ``annotations_detectron2/{split}/<id>.png``: VOC-20, train ids 0..19 for
  the 20 object classes, 255 for background and the 255 boundaries;
  images without any object pixel are skipped, as CAT-Seg does;
* ``annotations_detectron2_bg/{split}/<id>.png``: VOC-20b, 0..19 objects,
  20 = background, 255 = boundary.

Mapping: ``clsID_to_trID`` / ``clsID_to_trID_bg`` of CAT-Seg
``datasets/prepare_voc.py`` (cvlab-kaist/CAT-Seg, MIT licence; from ov-seg
and zsseg). P-mode PNGs are read as indices; RGB colour-coded PNGs are
turned into indices through the VOC palette (unknown colours -> 255).
dcp_mm's ``PascalVOC20Dataset`` / ``PascalVOC20bDataset`` can also read the
official ``SegmentationClass`` PNGs directly; this layout is for
``data_prefix=dict(seg_map_path='annotations_detectron2/val')`` and other
detectron2-based code.

Safe to re-run: outputs are written atomically and existing outputs are
skipped unless ``--overwrite``.

Example::

    python tools/dataset_converters/voc20.py data/VOCdevkit/VOC2012
"""
import argparse
import os
import os.path as osp
from functools import partial
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.utils import mkdir_or_exist, track_progress
from PIL import Image

NUM_OBJECTS = 20
IGNORE_INDEX = 255

#: VOC colour of each label 0..20 (background, 20 objects).
VOC_PALETTE = np.array(
    [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128],
     [128, 0, 128], [0, 128, 128], [128, 128, 128], [64, 0, 0], [192, 0, 0],
     [64, 128, 0], [192, 128, 0], [64, 0, 128], [192, 0, 128], [64, 128, 128],
     [192, 128, 128], [0, 64, 0], [128, 64, 0], [0, 192, 0], [128, 192, 0],
     [0, 64, 128]],
    dtype=np.uint8)
BOUNDARY_COLOUR = (224, 224, 192)


def voc_lut(with_background: bool) -> np.ndarray:
    """(256,) uint8: VOC label -> VOC-20 (bg 255) or VOC-20b (bg 20)."""
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    lut[1:NUM_OBJECTS + 1] = np.arange(NUM_OBJECTS, dtype=np.uint8)
    lut[0] = NUM_OBJECTS if with_background else IGNORE_INDEX
    return lut


def read_voc_label(path: str) -> np.ndarray:
    """A VOC label PNG -> (H, W) uint8 labels 0..20 / 255.

    Raises:
        ValueError: an image mode that is neither indexed nor RGB.
    """
    with Image.open(path) as img:
        if img.mode in ('P', 'L'):
            return np.array(img)
        if img.mode != 'RGB':
            raise ValueError(f'{path}: unsupported label mode {img.mode}; '
                             'expected a P-mode (or RGB colour) VOC PNG')
        rgb = np.array(img)
    out = np.full(rgb.shape[:2], IGNORE_INDEX, dtype=np.uint8)
    for label, colour in enumerate(VOC_PALETTE):
        out[(rgb == colour).all(axis=-1)] = label
    return out


def save_atomic(arr: np.ndarray, path: str) -> None:
    """Save a uint8 PNG through a temporary file and rename."""
    root, ext = osp.splitext(path)
    tmp = f'{root}.{os.getpid()}.tmp{ext}'
    Image.fromarray(arr).save(tmp, format='PNG')
    os.replace(tmp, path)


def convert_file(img_id: str, label_dir: str, out_dirs: Dict[str, str],
                 overwrite: bool) -> Dict[str, Optional[str]]:
    """Convert one label map into VOC-20 and VOC-20b; returns the output
    paths (None where skipped for having no object pixel)."""
    src = osp.join(label_dir, f'{img_id}.png')
    if not osp.isfile(src):
        raise FileNotFoundError(f'label {src} not found')
    label = None
    result = {}
    for key, with_bg in (('voc20', False), ('voc20b', True)):
        out = osp.join(out_dirs[key], f'{img_id}.png')
        if overwrite or not osp.isfile(out):
            label = read_voc_label(src) if label is None else label
            conv = voc_lut(with_bg)[label]
            if not with_bg and (conv == IGNORE_INDEX).all():
                result[key] = None
                continue
            save_atomic(conv, out)
        result[key] = out
    return result


def convert(root: str,
            splits: Sequence[str] = ('val', ),
            label_dir: Optional[str] = None,
            overwrite: bool = False) -> List[Dict[str, Optional[str]]]:
    """Convert ``root`` (a VOC2012 folder); returns per-image outputs.

    Raises:
        FileNotFoundError: label folder or split file missing.
    """
    if label_dir is None:
        label_dir = osp.join(root, 'SegmentationClass')
        if not osp.isdir(label_dir):
            label_dir = osp.join(root, 'SegmentationClassAug')
    if not osp.isdir(label_dir):
        raise FileNotFoundError(
            f'no SegmentationClass(Aug) folder in {root}: give a VOC2012 '
            'folder or --label-dir')
    results = []
    for split in splits:
        list_file = osp.join(root, 'ImageSets', 'Segmentation', f'{split}.txt')
        if not osp.isfile(list_file):
            raise FileNotFoundError(f'split file {list_file} not found')
        with open(list_file) as f:
            ids = [ln.strip() for ln in f if ln.strip()]
        out_dirs = dict(
            voc20=osp.join(root, 'annotations_detectron2', split),
            voc20b=osp.join(root, 'annotations_detectron2_bg', split))
        for d in out_dirs.values():
            mkdir_or_exist(d)
        print(f'{split}: {len(ids)} label maps from {label_dir}')
        fn = partial(
            convert_file,
            label_dir=label_dir,
            out_dirs=out_dirs,
            overwrite=overwrite)
        results += track_progress(fn, ids)
    return results


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='VOC 2012 -> VOC-20 / VOC-20b train ids (CAT-Seg)')
    parser.add_argument('root', help='the VOCdevkit/VOC2012 folder')
    parser.add_argument('--splits', nargs='+', default=['val'])
    parser.add_argument(
        '--label-dir',
        help='label PNG folder (default SegmentationClass, else '
        'SegmentationClassAug)')
    parser.add_argument(
        '--overwrite', action='store_true', help='rewrite existing outputs')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    convert(args.root, args.splits, args.label_dir, args.overwrite)


if __name__ == '__main__':
    main()
