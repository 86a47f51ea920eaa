"""ADE20K full release -> ADE-847 (``uint16`` TIFF train ids, CAT-Seg).

Reads the full release ``ADE20K_2021_17_01/images/ADE/{training,validation}/
**/<name>.jpg`` with ``<name>_seg.png`` beside it (class index = R / 10 * 256
+ G, integer division; instances in B) and writes, under the same root:

* ``annotations_detectron2/{split}/<name>.tif``: (H, W) uint16 train ids
  0..846, 65535 = ignore (classes outside the 847 and unlabeled pixels);
* ``images_detectron2/{split}/<name>.jpg``: a copy of the image.

This is the layout read by dcp_mm's ``ADE20K847Dataset``. The class index ->
train id table is derived data from CAT-Seg (cvlab-kaist/CAT-Seg
``datasets/prepare_ade20k_full.py`` ``ADE20K_SEM_SEG_FULL_CATEGORIES``, MIT
licence): train id ``i`` is the class index ``ADE847_IDS[i]``. CAT-Seg also
resizes images and labels to a short side of 512; here the full resolution
is kept unless ``--short-side 512`` is given (labels resized with nearest
neighbour, images bilinearly, as CAT-Seg).

Safe to re-run: outputs are written atomically and existing outputs are
skipped unless ``--overwrite``.

Example::

    python tools/dataset_converters/ade20k_full.py \\
        data/ade/ADE20K_2021_17_01 --nproc 8
"""
import argparse
import os
import os.path as osp
import shutil
from functools import partial
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.utils import (mkdir_or_exist, track_parallel_progress,
                            track_progress)
from PIL import Image

#: ADE20K full-release class index of each of the 847 train ids (CAT-Seg).
ADE847_IDS = (
    2978, 312, 2420, 2855, 2131, 976, 447, 165, 2377, 838, 350, 1831, 1125,
    3055, 401, 1610, 1910, 2684, 471, 687, 774, 2473, 2264, 1735, 2994, 1564,
    1276, 2178, 2329, 57, 907, 913, 1395, 2138, 2272, 2128, 724, 155, 2053,
    2380, 689, 1788, 3087, 2530, 581, 2388, 2985, 2454, 2096, 137, 294, 212,
    2185, 524, 2212, 943, 1869, 2251, 2793, 2423, 1121, 266, 1948,
    1744, 783, 571, 627, 629, 491, 1374, 223, 3016, 2598, 978, 239, 608, 236,
    2531, 2616, 591, 327, 2679, 1451, 181, 420, 2821, 1023, 855, 2733,
    2928, 1240, 77, 1969, 2880, 14, 1936, 2828, 631, 103, 3144,
    308, 1282, 38, 1563, 29, 480, 2569, 247, 187, 778, 2243, 1941, 2833,
    120, 95, 2836, 1087, 868, 1401, 220, 47, 843, 123, 2537, 1927, 2337, 1702,
    64, 249, 642, 1981, 609, 2840, 2586, 1393, 2704, 1304, 146, 1494, 2739,
    389, 1551, 131, 738, 161, 747, 1919, 3109, 2179, 2989, 206, 1930, 1002,
    2254, 1708, 2526, 160, 2901, 2262, 44, 597, 2235, 1260, 682, 2151, 3107,
    432, 1098, 2932, 461, 410, 2046, 533, 1481, 1858, 894, 1322,
    1891, 1756, 49, 1272, 1229, 2850, 1784, 2962, 259, 319, 954, 1974,
    1013, 2356, 97, 318, 592, 2885, 1017, 851, 1407, 1332, 303, 2714, 1924,
    1346, 1081, 1583, 2727, 2509, 2123, 602, 202, 10, 490, 530, 2213, 1884,
    2934, 2687, 387, 2668, 982, 2547, 1474, 877, 1391, 414, 698, 2019, 2422,
    3010, 1139, 753, 1747, 2175, 1301, 1033, 1789, 2939, 2730, 1652, 90, 1349,
    2830, 1485, 2370, 2155, 118, 1402, 1957, 3130, 1197, 52, 2688, 96, 762,
    772, 1857, 2315, 1016, 643, 3105, 1849, 791, 349, 6, 3114, 1587, 1233, 559,
    1223, 3049, 1943, 853, 709, 1390, 2748, 2007, 1546, 1513, 2600, 2538, 1790,
    194, 326, 2877, 594, 2036, 1662, 2366, 1754, 418, 2553, 1951, 1963, 918,
    2086, 997, 2731, 704, 1365, 569, 3108, 948, 839, 63, 1305, 378, 2362, 2734,
    2982, 2398, 1119, 382, 1141, 1805, 3102, 2341, 1131, 2316, 2626, 3104, 198,
    1896, 2800, 190, 3131, 1463, 357, 929, 209, 912, 1164, 1509, 2539, 3116,
    2615, 1644, 818, 242, 2217, 2347, 2686, 2300, 572, 789, 358, 2443, 101,
    2969, 2692, 606, 2339, 1533, 2060, 1782, 495, 371, 2707, 889, 3156, 2683,
    1499, 1135, 1619, 125, 2838, 2792, 1695, 746, 1343, 1370, 2858, 145, 2565,
    1892, 1103, 286, 170, 3073, 922, 1655, 1602, 2160, 1151, 2176, 2239, 132,
    394, 1424, 607, 700, 116, 1425, 2676, 141, 2360, 2449, 897, 317, 2228,
    2351, 1543, 656, 1088, 373, 2472, 2892, 1740, 3067, 1367, 188, 79, 1633,
    1885, 677, 1779, 1297, 2334, 3027, 2735, 1791, 2405, 1748, 2983, 3035,
    2824, 2168, 385, 2148, 2465, 175, 390, 268, 2722, 2857, 3088, 2926, 2782,
    1378, 1934, 2072, 2889, 944, 1158, 1383, 867, 2145, 1915, 361, 402, 482,
    2761, 300, 1554, 636, 260, 1186, 871, 2859, 2103, 208, 2236, 2012, 2462,
    1462, 2832, 2617, 1024, 1129, 18, 376, 134, 407, 434, 2017, 2717, 2005,
    2993, 1545, 1445, 2831, 1161, 2411, 2949, 1769, 552, 2327, 939, 3013, 1986,
    1486, 2723, 1549, 2649, 1020, 392, 422, 1419, 2099, 2464, 3058, 430, 675,
    2941, 2955, 2355, 840, 32, 2338, 1232, 2834, 2991, 2879, 444, 1657, 2246,
    296, 245, 2661, 1202, 1714, 251, 1095, 1828, 311, 2732, 947, 2115, 2738,
    2525, 2194, 634, 740, 2682, 2020, 1156, 1036, 1295, 1181, 3037, 1614, 736,
    893, 2047, 1274, 1361, 3036, 2606, 2797, 2022, 2876, 2758, 472, 3028, 882,
    1189, 743, 3122, 2401, 468, 1061, 1523, 3059, 2843, 2853, 1529, 214, 3032,
    3071, 277, 813, 426, 1039, 727, 1508, 2490, 2299, 768, 1172, 537, 1847,
    1664, 1110, 1014, 662, 121, 227, 2410, 2165, 2696, 3005, 1231, 635, 292,
    2690, 65, 2607, 2574, 1188, 456, 2913, 459, 1955, 827, 1111, 2412, 2997,
    528, 366, 1863, 500, 1001, 1958, 1441, 809, 210, 435, 718, 1674, 388, 1572,
    1584, 1944, 674, 99, 2352, 1019, 1763, 185, 554, 1066, 2508, 951, 2822,
    415, 297, 1914, 2619, 1338, 2505, 955, 2786, 238, 3000, 2763, 299, 822,
    1288, 3101, 2894, 992, 489, 2157, 2309, 1576, 1810, 2964, 2662, 2087, 1569,
    503, 1505, 1468, 1613, 1138, 1256, 2715, 2846, 477, 2576, 108, 2245, 1162,
    2149, 2183, 858, 1324, 1055, 1741, 149, 615, 825, 2143, 304, 283, 2322,
    3017, 2510, 1960, 265, 2282, 2184, 1461, 3113, 2372, 2166, 232, 693, 1945,
    3039, 2494, 1908, 2827, 280, 2950, 1044, 288, 2863, 1342, 2409, 1258, 2249,
    2862, 920, 1607, 2802, 610, 3129, 1108, 2823, 476, 2641, 2788, 2070, 1368,
    2903, 699, 2844, 942, 2663, 457, 2701, 2540, 2231, 2746, 1738, 2350, 2808,
    2025, 2541, 2156, 126, 2512, 831, 2503, 2039, 2774, 886, 919, 2240, 2636,
    963, 1218, 1406, 1420, 526, 2639, 975, 1921, 2305, 1193, 2517, 2809, 1647,
    314, 2560, 545, 1345, 775, 603, 1163, 1641, 1678, 2450, 2915, 42, 2242,
    2741, 1143, 862, 1654, 1826, 1689, 3124, 2710, 152, 549, 360, 1982, 1478,
    2203, 2612, 2956, 2681, 437, 2171, 1933, 3110, 1824, 2803, 234, 764, 177,
    817, 3145, 1262, 864, 2359, 2992, 1725, 2667, 2484, 1133, 1667, 2847, 932,
    1392, 2573, 2140, 1046, 264, 2927, 2752, 679, 2493, 1658, 2466, 1057, 2444,
    2093, 2248, 2432, 726, 816, 1171, 2766, 2900, 2313, 488, 2265, 2043, 332,
    1771, 2320, 2646, 1089, 2826, 3148)

IGNORE_INDEX = 65535


def train_id_lut() -> np.ndarray:
    """(65536,) uint16 look-up table: class index -> train id / 65535."""
    lut = np.full(65536, IGNORE_INDEX, dtype=np.uint16)
    lut[list(ADE847_IDS)] = np.arange(len(ADE847_IDS), dtype=np.uint16)
    return lut


def class_index(seg: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 ``_seg.png`` -> (H, W) int32 class index
    ``R // 10 * 256 + G`` (ADE20K toolkit ``loadAde20K``).

    Raises:
        ValueError: not an (H, W, >=3) uint8 array.
    """
    if seg.dtype != np.uint8 or seg.ndim != 3 or seg.shape[2] < 3:
        raise ValueError(
            f'expected an (H, W, 3) uint8 _seg.png, got {seg.dtype} '
            f'{seg.shape}')
    r = seg[..., 0].astype(np.int32)
    g = seg[..., 1].astype(np.int32)
    return r // 10 * 256 + g


def convert_label(seg: np.ndarray) -> np.ndarray:
    """(H, W, 3) ``_seg.png`` -> (H, W) uint16 train ids (65535 ignore)."""
    return train_id_lut()[class_index(seg)]


def _resized(size: Tuple[int, int], short_side: Optional[int]):
    w, h = size
    if not short_side:
        return None
    scale = short_side / min(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def save_atomic(img: Image.Image, path: str, **kwargs) -> None:
    """Save through a temporary file and rename (no partial outputs)."""
    root, ext = osp.splitext(path)
    tmp = f'{root}.{os.getpid()}.tmp{ext}'
    img.save(tmp, **kwargs)
    os.replace(tmp, path)


def convert_file(img_path: str, ann_dir: str, img_dir: str,
                 short_side: Optional[int], overwrite: bool) -> str:
    """Convert one image of the full release; returns the TIFF path.

    Raises:
        FileNotFoundError: the ``_seg.png`` next to the image is missing.
    """
    name = osp.splitext(osp.basename(img_path))[0]
    seg_path = osp.join(osp.dirname(img_path), f'{name}_seg.png')
    out_ann = osp.join(ann_dir, f'{name}.tif')
    out_img = osp.join(img_dir, f'{name}.jpg')
    if not osp.isfile(seg_path):
        raise FileNotFoundError(f'{seg_path} not found (needed for '
                                f'{img_path})')
    if overwrite or not osp.isfile(out_ann):
        with Image.open(seg_path) as f:
            seg = np.array(f.convert('RGB'))
        label = Image.fromarray(convert_label(seg))
        size = _resized(label.size, short_side)
        if size:
            label = label.resize(size, Image.NEAREST)
        save_atomic(
            label, out_ann, format='TIFF', compression='tiff_adobe_deflate')
    if overwrite or not osp.isfile(out_img):
        with Image.open(img_path) as img:
            size = _resized(img.size, short_side)
            if size:
                save_atomic(
                    img.convert('RGB').resize(size, Image.BILINEAR),
                    out_img,
                    format='JPEG',
                    quality=95)
            else:
                tmp = f'{out_img}.{os.getpid()}.tmp'
                shutil.copyfile(img_path, tmp)
                os.replace(tmp, out_img)
    return out_ann


def find_images(root: str, split: str) -> List[str]:
    """Sorted ``.jpg`` files under ``root/images/ADE/split`` (recursive)."""
    base = osp.join(root, 'images', 'ADE', split)
    found = []
    for dirpath, _, files in os.walk(base):
        found += [osp.join(dirpath, f) for f in files if f.endswith('.jpg')]
    return sorted(found)


def convert(root: str,
            splits: Sequence[str] = ('training', 'validation'),
            short_side: Optional[int] = None,
            nproc: int = 1,
            overwrite: bool = False) -> List[str]:
    """Convert the full release under ``root``; returns the TIFF paths.

    Raises:
        FileNotFoundError: no image in any requested split.
    """
    outputs = []
    for split in splits:
        images = find_images(root, split)
        if not images:
            print(f'{split}: no images under '
                  f'{osp.join(root, "images", "ADE", split)}, skipped')
            continue
        ann_dir = osp.join(root, 'annotations_detectron2', split)
        img_dir = osp.join(root, 'images_detectron2', split)
        mkdir_or_exist(ann_dir)
        mkdir_or_exist(img_dir)
        fn = partial(
            convert_file,
            ann_dir=ann_dir,
            img_dir=img_dir,
            short_side=short_side,
            overwrite=overwrite)
        print(f'{split}: {len(images)} images -> {ann_dir}')
        if nproc > 1:
            outputs += track_parallel_progress(fn, images, nproc)
        else:
            outputs += track_progress(fn, images)
    if not outputs:
        raise FileNotFoundError(
            f'no images found under {root}/images/ADE/{{{",".join(splits)}}}'
            ': give the ADE20K_2021_17_01 folder of the full release')
    return outputs


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='ADE20K full release -> ADE-847 uint16 TIFF train ids')
    parser.add_argument('root', help='the ADE20K_2021_17_01 folder')
    parser.add_argument(
        '--splits', nargs='+', default=['training', 'validation'])
    parser.add_argument(
        '--short-side',
        type=int,
        help='resize to this short side (CAT-Seg: 512); default: keep')
    parser.add_argument('--nproc', type=int, default=1)
    parser.add_argument(
        '--overwrite', action='store_true', help='rewrite existing outputs')
    args = parser.parse_args(argv)
    if args.short_side is not None and args.short_side < 1:
        parser.error('--short-side must be positive')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    convert(args.root, args.splits, args.short_side, args.nproc,
            args.overwrite)


if __name__ == '__main__':
    main()
