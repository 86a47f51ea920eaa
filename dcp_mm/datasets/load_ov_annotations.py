"""Load a label map keeping its stored integer type (uint8 / uint16 / ...)."""
from typing import Optional

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadOVAnnotations(LoadAnnotations):
    """mmseg ``LoadAnnotations`` without the cast to ``uint8``.

    mmseg's :class:`~mmseg.datasets.transforms.LoadAnnotations` decodes the
    label file and then calls ``.astype(np.uint8)``, which wraps the train
    ids of the large-vocabulary benchmarks stored as 16-bit TIFF
    (ADE20K-847: ids 0..846 and 65535 = ignore; Pascal Context-459: ids
    0..458 and 459 = ignore, CAT-Seg ``prepare_ade20k_full.py`` /
    ``prepare_pascal_context_459.py``). This transform decodes with
    ``flag='unchanged'`` (the ``'pillow'`` and ``'cv2'`` backends of mmcv
    both return ``uint16`` for such files, no ``tifffile`` needed) and keeps
    the stored dtype. ``reduce_zero_label`` and the dataset's ``label_map``
    are applied as in mmseg, but dtype-safely with the given
    ``ignore_index``.

    Args:
        reduce_zero_label (bool, optional): As in mmseg; ``None`` takes the
            value from the dataset (recommended). Default: None.
        ignore_index (int): Value that marks ignored pixels; used by
            ``reduce_zero_label`` (label 0 becomes ``ignore_index``, pixels
            already equal to ``ignore_index`` stay ignored). Default: 255.
        backend_args (dict, optional): File backend arguments.
            Default: None.
        imdecode_backend (str): mmcv decoding backend. Default: 'pillow'.

    Shapes:
        results['gt_seg_map']: (H, W), integer dtype of the file (uint8 for
        PNG, uint16 for 16-bit TIFF), values in [0, num_classes) or
        ``ignore_index``.

    Raises:
        ValueError: the decoded label map is not a 2-D integer array, or
            ``ignore_index`` does not fit into its dtype.
    """

    def __init__(self,
                 reduce_zero_label: Optional[bool] = None,
                 ignore_index: int = 255,
                 backend_args: Optional[dict] = None,
                 imdecode_backend: str = 'pillow') -> None:
        super().__init__(
            reduce_zero_label=reduce_zero_label,
            backend_args=backend_args,
            imdecode_backend=imdecode_backend)
        if not isinstance(ignore_index, int) or ignore_index < 0:
            raise ValueError('ignore_index must be a non-negative int, got '
                             f'{ignore_index!r}')
        self.ignore_index = ignore_index

    def _load_seg_map(self, results: dict) -> None:
        """Read ``results['seg_map_path']`` into ``results['gt_seg_map']``.

        Args:
            results (dict): Result dict with ``seg_map_path``,
                ``reduce_zero_label``, ``seg_fields`` and optionally
                ``label_map`` (old id -> new id).
        """
        path = results['seg_map_path']
        img_bytes = fileio.get(path, backend_args=self.backend_args)
        gt = mmcv.imfrombytes(
            img_bytes, flag='unchanged',
            backend=self.imdecode_backend).squeeze()
        if gt.ndim != 2 or not np.issubdtype(gt.dtype, np.integer):
            raise ValueError(
                f'{path}: expected a single-channel integer label map, got '
                f'shape {gt.shape} and dtype {gt.dtype}; convert the '
                'annotations to train-id PNG/TIFF files first')
        dtype = gt.dtype
        if self.ignore_index > np.iinfo(dtype).max:
            raise ValueError(
                f'{path}: ignore_index={self.ignore_index} does not fit into '
                f'the label dtype {dtype}; set the correct ignore_index')

        reduce_zero_label = results['reduce_zero_label']
        if self.reduce_zero_label not in (None, reduce_zero_label):
            raise ValueError(
                'the dataset was initialised with reduce_zero_label='
                f'{reduce_zero_label} but LoadOVAnnotations has '
                f'reduce_zero_label={self.reduce_zero_label}; leave it None '
                'to follow the dataset')
        if reduce_zero_label:
            ignored = (gt == 0) | (gt == self.ignore_index)
            gt = gt.astype(np.int64) - 1
            gt[ignored] = self.ignore_index
        label_map = results.get('label_map', None)
        if label_map is not None:
            src = gt.copy()
            gt = gt.astype(np.int64)
            for old_id, new_id in label_map.items():
                gt[src == old_id] = new_id
        if gt.size and int(gt.max()) > np.iinfo(dtype).max:
            raise ValueError(
                f'{path}: label_map produced value {int(gt.max())}, which '
                f'does not fit into the label dtype {dtype}')
        results['gt_seg_map'] = gt.astype(dtype, copy=False)
        results['seg_fields'].append('gt_seg_map')
