"""COCO-Stuff-164k: stuffthingmaps -> 171-class ``_labelTrainIds.png``.

Reads the official ``stuffthingmaps_trainval2017/{train2017,val2017}/*.png``
(uint8, value = COCO category id - 1 in 0..181, 255 = unlabeled) and writes
``annotations/{split}/<id>_labelTrainIds.png`` (uint8, train ids 0..170 for
the 171 categories used, 255 = ignore), the layout read by mmseg's
``COCOStuffDataset`` and dcp_mm's ``COCOStuff171Dataset``. The 11 COCO ids
that have no annotation (12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91 - 1)
become 255.

The id -> train id table is derived data from CAT-Seg
(cvlab-kaist/CAT-Seg ``datasets/prepare_coco_stuff.py`` ``COCO_CATEGORIES``,
MIT licence): train id ``i`` is the stuffthingmaps value
``COCO_STUFF_171_IDS[i]``.

Safe to re-run: outputs are written atomically (temporary file + rename)
and existing outputs are skipped unless ``--overwrite``.

Example::

    python tools/dataset_converters/coco_stuff164k.py data/coco_stuff164k \\
        --nproc 8
"""
import argparse
import os
import os.path as osp
from functools import partial
from typing import List, Optional, Sequence

import numpy as np
from mmengine.utils import (mkdir_or_exist, track_parallel_progress,
                            track_progress)
from PIL import Image

#: stuffthingmaps value of each of the 171 train ids (CAT-Seg table).
COCO_STUFF_171_IDS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17,
                      18, 19, 20, 21, 22, 23, 24, 26, 27, 30, 31, 32, 33, 34,
                      35, 36, 37, 38, 39, 40, 41, 42, 43, 45, 46, 47, 48, 49,
                      50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
                      64, 66, 69, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81,
                      83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97,
                      98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109,
                      110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120,
                      121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131,
                      132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142,
                      143, 144, 145, 146, 147, 148, 149, 150, 151, 152, 153,
                      154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164,
                      165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175,
                      176, 177, 178, 179, 180, 181)

IGNORE_INDEX = 255


def train_id_lut() -> np.ndarray:
    """(256,) uint8 look-up table: stuffthingmaps value -> train id / 255."""
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    lut[list(COCO_STUFF_171_IDS)] = np.arange(
        len(COCO_STUFF_171_IDS), dtype=np.uint8)
    return lut


def convert_label(src: np.ndarray) -> np.ndarray:
    """(H, W) uint8 stuffthingmaps -> (H, W) uint8 train ids (255 ignore).

    Raises:
        ValueError: ``src`` is not a 2-D uint8 array (e.g. an RGB colour
            map instead of the index PNG).
    """
    if src.dtype != np.uint8 or src.ndim != 2:
        raise ValueError(
            f'expected a (H, W) uint8 stuffthingmaps label, got {src.dtype} '
            f'{src.shape}: use the stuffthingmaps_trainval2017 PNGs')
    return train_id_lut()[src]


def save_atomic(img: Image.Image, path: str) -> None:
    """Save through a temporary file and rename (no partial outputs)."""
    root, ext = osp.splitext(path)
    tmp = f'{root}.{os.getpid()}.tmp{ext}'
    img.save(tmp)
    os.replace(tmp, path)


def convert_file(src_path: str, out_dir: str, overwrite: bool) -> str:
    """Convert one stuffthingmaps PNG; returns the output path."""
    name = osp.splitext(osp.basename(src_path))[0]
    out = osp.join(out_dir, f'{name}_labelTrainIds.png')
    if overwrite or not osp.isfile(out):
        src = np.array(Image.open(src_path))
        save_atomic(Image.fromarray(convert_label(src)), out)
    return out


def convert(data_root: str,
            out_dir: Optional[str] = None,
            splits: Sequence[str] = ('train2017', 'val2017'),
            nproc: int = 1,
            overwrite: bool = False) -> List[str]:
    """Convert every split of ``data_root``; returns the output paths.

    Args:
        data_root: folder holding ``stuffthingmaps_trainval2017``.
        out_dir: output root (default ``data_root/annotations``).
        splits: sub-folders to convert.
        nproc: worker processes.
        overwrite: rewrite existing outputs.

    Raises:
        FileNotFoundError: a split folder is missing or empty.
    """
    out_dir = out_dir or osp.join(data_root, 'annotations')
    outputs = []
    for split in splits:
        src_dir = osp.join(data_root, 'stuffthingmaps_trainval2017', split)
        files = sorted(
            osp.join(src_dir, f) for f in os.listdir(src_dir)
            if f.endswith('.png')) if osp.isdir(src_dir) else []
        if not files:
            raise FileNotFoundError(
                f'no stuffthingmaps PNGs in {src_dir}: unzip '
                'stuffthingmaps_trainval2017.zip into the data root')
        dst = osp.join(out_dir, split)
        mkdir_or_exist(dst)
        fn = partial(convert_file, out_dir=dst, overwrite=overwrite)
        print(f'{split}: {len(files)} label maps -> {dst}')
        if nproc > 1:
            outputs += track_parallel_progress(fn, files, nproc)
        else:
            outputs += track_progress(fn, files)
    return outputs


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='COCO-Stuff-164k stuffthingmaps -> 171-class '
        '_labelTrainIds.png (CAT-Seg / mmseg layout)')
    parser.add_argument(
        'data_root', help='folder with stuffthingmaps_trainval2017/')
    parser.add_argument(
        '-o', '--out-dir', help='output root (default DATA_ROOT/annotations)')
    parser.add_argument(
        '--splits', nargs='+', default=['train2017', 'val2017'])
    parser.add_argument('--nproc', type=int, default=1)
    parser.add_argument(
        '--overwrite', action='store_true', help='rewrite existing outputs')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    convert(args.data_root, args.out_dir, args.splits, args.nproc,
            args.overwrite)


if __name__ == '__main__':
    main()
