"""Visual prompts from the training set's own labels (DPSeg, no SD)."""
import hashlib
import heapq
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log
from mmseg.registry import DATASETS, MODELS

from ..utils.arg_checks import check_positive_ints

Region = Tuple[int, int, int]  # (area in pixels, image index, label value)


def top_regions(label_maps: Iterable[np.ndarray],
                num_classes: int,
                num_prompts: int,
                ignore_index: int = 255,
                min_area: int = 1) -> List[List[Region]]:
    """Per class, the ``num_prompts`` largest regions over all label maps.

    A region is every pixel of one class in one image (all its connected
    parts). Ties in area go to the earlier image.

    Args:
        label_maps: (H, W) integer label maps, values in [0, num_classes) or
            ``ignore_index``.
        num_classes: C classes (label values).
        num_prompts: M, regions kept per class.
        ignore_index: label value that is no class.
        min_area: regions smaller than this many pixels are skipped.

    Returns:
        C lists of (area, image index, class), largest area first.

    Raises:
        ValueError: a label value outside [0, C) that is not ignore_index.
    """
    heaps: List[List[Tuple[int, int, int]]] = [[] for _ in range(num_classes)]
    for i, label in enumerate(label_maps):
        values, counts = np.unique(np.asarray(label), return_counts=True)
        for v, n in zip(values.tolist(), counts.tolist()):
            if v == ignore_index:
                continue
            if not 0 <= v < num_classes:
                raise ValueError(f'label value {v} of image {i} is outside '
                                 f'[0, {num_classes}) and not the '
                                 f'ignore_index {ignore_index}')
            if n < min_area:
                continue
            # min-heap of (area, -index): the smallest / latest is dropped
            item = (n, -i, v)
            if len(heaps[v]) < num_prompts:
                heapq.heappush(heaps[v], item)
            elif item > heaps[v][0]:
                heapq.heapreplace(heaps[v], item)
    return [[(a, -ni, v) for a, ni, v in sorted(h, reverse=True)]
            for h in heaps]


def masked_crop(image: np.ndarray,
                mask: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Bounding-box crop of a region and its mask.

    Args:
        image: (H, W, 3) image.
        mask: (H, W) bool, the region (not empty).

    Returns:
        (h, w, 3) crop of ``image`` and (h, w) bool crop of ``mask`` over the
        region's bounding box (pixels outside the region are left as they
        are; :class:`VisualPromptBank` blanks them).

    Raises:
        ValueError: empty mask or shapes that differ.
    """
    if image.shape[:2] != mask.shape:
        raise ValueError(f'image {image.shape[:2]} and mask {mask.shape} '
                         'differ in size')
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        raise ValueError('masked_crop got an empty mask')
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return image[y0:y1, x0:x1], mask[y0:y1, x0:x1]


@MODELS.register_module()
class ExemplarCropPromptSource:
    """Visual prompts cut from the training set with its labels.

    Reconstruction choice (no Stable Diffusion here; DPSeg, Zhao et al.
    CVPR 2025, generates its prompts with SD from the text templates): for
    each category, the M largest regions of that category over the dataset
    (one region = all its pixels in one image), each cropped to its bounding
    box with the pixels outside the region blanked by the bank (masked
    crops). Categories are matched to the dataset's classes by exact name;
    names the dataset does not have get no prompt (text-only fallback).

    Args:
        dataset: mmseg dataset config (e.g. the training dataset); its
            pipeline is replaced by ``LoadImageFromFile`` +
            ``LoadAnnotations``.
        min_area: regions smaller than this many pixels are skipped.
        max_images: scan only the first N images (None = all).
        ignore_index: label value that is no class.

    Call ``source(names, num_prompts)`` -> per name, a list of up to M
    (image (h, w, 3) uint8 RGB, mask (h, w) bool) crops. The dataset is
    scanned once per ``num_prompts`` (in memory).

    Raises:
        ValueError: bad arguments; a dataset without images.
    """

    def __init__(self,
                 *,
                 dataset: dict,
                 min_area: int = 16,
                 max_images: Optional[int] = None,
                 ignore_index: int = 255) -> None:
        if not isinstance(dataset, dict) or 'type' not in dataset:
            raise ValueError('dataset must be an mmseg dataset config dict '
                             f'with a type, got {dataset!r}')
        check_positive_ints(min_area=min_area)
        if max_images is not None:
            check_positive_ints(max_images=max_images)
        self.dataset_cfg = dict(dataset)
        self.min_area = min_area
        self.max_images = max_images
        self.ignore_index = ignore_index
        self._dataset = None
        self._scans: Dict[int, List[List[Region]]] = {}

    def fingerprint(self, names: Sequence[str]) -> str:
        """What the prompts depend on (for the bank's cache key)."""
        text = repr(
            (type(self).__name__, sorted(self.dataset_cfg.items(), key=str),
             self.min_area, self.max_images, self.ignore_index))
        return hashlib.sha1(text.encode()).hexdigest()

    @property
    def dataset(self):
        """The dataset, built on first use."""
        if self._dataset is None:
            cfg = dict(
                self.dataset_cfg,
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='LoadAnnotations')
                ])
            cfg.pop('serialize_data', None)
            self._dataset = DATASETS.build(cfg)
            if len(self._dataset) == 0:
                raise ValueError(f'the exemplar dataset {self.dataset_cfg} '
                                 'has no images')
        return self._dataset

    def _load(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 RGB image and (H, W) labels of one sample."""
        results = self.dataset[index]
        img = results['img'][..., ::-1]  # mmcv loads BGR
        return np.ascontiguousarray(img), results['gt_seg_map']

    def _scan(self, num_prompts: int) -> List[List[Region]]:
        if num_prompts not in self._scans:
            ds = self.dataset
            n = len(ds) if self.max_images is None else min(
                len(ds), self.max_images)
            classes = list(ds.metainfo['classes'])
            self._scans[num_prompts] = top_regions(
                (ds[i]['gt_seg_map'] for i in range(n)), len(classes),
                num_prompts, self.ignore_index, self.min_area)
            print_log(
                f'ExemplarCropPromptSource: scanned {n} label maps for '
                f'{len(classes)} classes',
                logger='current')
        return self._scans[num_prompts]

    def __call__(
            self, names: Sequence[str],
            num_prompts: int) -> List[List[Tuple[np.ndarray, np.ndarray]]]:
        check_positive_ints(num_prompts=num_prompts)
        regions = self._scan(num_prompts)
        index = {c: i for i, c in enumerate(self.dataset.metainfo['classes'])}
        cache: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
        out = []
        for name in names:
            crops = []
            for _, img_idx, value in regions[index[name]] if name in index \
                    else []:
                if img_idx not in cache:
                    cache = {img_idx: self._load(img_idx)}
                img, label = cache[img_idx]
                crops.append(masked_crop(img, label == value))
            out.append(crops)
        return out
