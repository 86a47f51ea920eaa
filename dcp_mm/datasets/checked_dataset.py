"""Dataset wrapper that checks every sample's files before loading it."""
import copy
import io
import logging
import os
import os.path as osp
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmseg.registry import DATASETS
from PIL import Image

from ..models.utils.vocabulary import check_label_values

# end-of-image markers, searched for in the file's last bytes (some writers
# append a few padding bytes after them)
_TAIL = 64


class BadSampleError(ValueError):
    """A sample's files are missing, unreadable or inconsistent; the message
    names the file(s) and the problem."""


def _image_problem(
        path: str) -> Tuple[Optional[str], Optional[Tuple[int, int]]]:
    """(problem or None, (width, height) or None) of an image / label file.

    Reads the whole file (it is read again by the loading transform, then
    from the OS page cache) and parses only the header with PIL.
    """
    if not osp.isfile(path):
        return 'file not found', None
    with open(path, 'rb') as f:
        data = f.read()
    if not data:
        return 'empty file (0 bytes)', None
    if data[:2] == b'\xff\xd8' and b'\xff\xd9' not in data[-_TAIL:]:
        return (f'truncated JPEG ({len(data)} bytes, no end-of-image '
                'marker): it would decode with a grey or missing bottom'), None
    if data[:8] == b'\x89PNG\r\n\x1a\n' and b'IEND' not in data[-_TAIL:]:
        return f'truncated PNG ({len(data)} bytes, no IEND chunk)', None
    try:
        with Image.open(io.BytesIO(data)) as im:
            return None, im.size
    except Exception as err:  # noqa: B902  (PIL raises many types)
        return f'not a readable image ({type(err).__name__}: {err})', None


@DATASETS.register_module()
class CheckedDataset:
    """Wrap a segmentation dataset so a bad sample cannot stop a long run
    silently wrong or with an anonymous traceback.

    Before a sample goes through the pipeline its files are checked:

    * image / label missing, empty, truncated (JPEG without end-of-image
      marker, PNG without ``IEND``) or not decodable;
    * label map size (W x H) different from the image size;
    * label values (after the pipeline's ``reduce_zero_label`` and the
      classes' ``label_map``) outside [0, T) and not ``ignore_index``.

    Any exception raised while loading the sample (the checks above or the
    pipeline itself) becomes a :class:`BadSampleError` naming the image and
    label files and the problem. With ``skip_bad=True`` the sample is
    skipped instead (a warning is logged, the next index is used) and
    counted in :attr:`bad_samples`. Grayscale and RGBA images, and images
    smaller than the crop, are valid: mmcv's ``LoadImageFromFile`` converts
    them to 3-channel BGR, and ``SegDataPreProcessor`` pads to its ``size``
    (label padding = 255, ignored).

    Args:
        dataset: the wrapped dataset or its config (a mmseg
            ``BaseSegDataset``: ``get_data_info`` gives ``img_path`` and
            ``seg_map_path``).
        skip_bad: skip and count bad samples instead of raising.
        check_files: run the file checks (they read every file once more).
        max_skips: consecutive bad samples tolerated when skipping.
        check_labels: check the label values of every loaded sample.
        report_file: with ``skip_bad``, a text file to which every skipped
            sample is appended (``image<TAB>problem``; each data-loader
            worker appends its own), read by :func:`read_bad_sample_report`
            for the end-of-run summary.

    Raises:
        BadSampleError: on a bad sample (``skip_bad=False``), or when more
            than ``max_skips`` consecutive samples are bad.
        ValueError: ``max_skips`` < 0.

    Note:
        With ``num_workers > 0`` every worker process counts its own
        skipped samples (and logs each one).
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 skip_bad: bool = False,
                 check_files: bool = True,
                 max_skips: int = 10,
                 check_labels: bool = True,
                 report_file: Optional[str] = None) -> None:
        if max_skips < 0:
            raise ValueError(f'max_skips must be >= 0, got {max_skips}')
        self.dataset = DATASETS.build(dataset) if isinstance(dataset,
                                                             dict) else dataset
        self.skip_bad = skip_bad
        self.check_files = check_files
        self.max_skips = max_skips
        self.check_labels = check_labels
        self.report_file = report_file
        self.bad_samples: Dict[str, str] = {}

    @property
    def metainfo(self) -> dict:
        return self.dataset.metainfo

    @property
    def num_bad(self) -> int:
        """Number of distinct bad samples skipped so far (this process)."""
        return len(self.bad_samples)

    def __len__(self) -> int:
        return len(self.dataset)

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(idx)

    def full_init(self) -> None:
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    def check_sample(self, idx: int) -> Optional[str]:
        """The problem of sample ``idx``'s files, or None if they are fine."""
        info = self.dataset.get_data_info(idx)
        img_path = info.get('img_path')
        seg_path = info.get('seg_map_path')
        img_problem, img_size = _image_problem(img_path)
        if img_problem:
            return f'image {img_path}: {img_problem}'
        if seg_path is None:
            return None
        seg_problem, seg_size = _image_problem(seg_path)
        if seg_problem:
            return f'label {seg_path}: {seg_problem}'
        if seg_size != img_size:
            return (f'label {seg_path} is {seg_size[0]}x{seg_size[1]} '
                    f'(W x H) but image {img_path} is {img_size[0]}x'
                    f'{img_size[1]}: the label map must have the size of '
                    'its image')
        return None

    def _label_range(self) -> Tuple[int, int]:
        meta = self.dataset.metainfo
        ignore = getattr(self.dataset, 'ignore_index',
                         meta.get('ignore_index', 255))
        return len(meta.get('classes') or ()), int(ignore)

    def label_problem(self, idx: int) -> Optional[str]:
        """Label values of sample ``idx``'s label file outside [0, T) and
        not ``ignore_index`` (after ``reduce_zero_label`` and
        ``label_map``, as mmseg's loaders apply them), or None."""
        info = self.dataset.get_data_info(idx)
        path = info.get('seg_map_path')
        if path is None:
            return None
        with Image.open(path) as im:
            label = np.array(im).astype(np.int64)
        num_classes, ignore = self._label_range()
        if info.get('reduce_zero_label'):
            label = np.where(label == 0, 255, label - 1)
            label[label == 254] = 255
        mapping = info.get('label_map') or {}
        if mapping:
            mapped = label.copy()
            for old, new in mapping.items():
                mapped[label == old] = new
            label = mapped
        try:
            check_label_values(
                torch.from_numpy(np.unique(label)), num_classes, ignore,
                f'label {path}', f'{num_classes} classes of the dataset')
        except ValueError as err:
            return str(err)
        return None

    def _check_loaded_labels(self, idx: int, out: Any) -> None:
        sample = out.get('data_samples') if isinstance(out, dict) else None
        seg = getattr(sample, 'gt_sem_seg', None)
        if seg is None:
            return
        num_classes, ignore = self._label_range()
        info = self.dataset.get_data_info(idx)
        try:
            check_label_values(seg.data, num_classes, ignore,
                               f'label {info.get("seg_map_path")}',
                               f'{num_classes} classes of the dataset')
        except ValueError as err:
            raise BadSampleError(f'bad sample {idx}: {err}') from None

    def _load(self, idx: int) -> Any:
        problem = self.check_sample(idx) if self.check_files else None
        if problem is not None:
            raise BadSampleError(f'bad sample {idx}: {problem}')
        try:
            out = self.dataset[idx]
        except Exception as err:  # noqa: B902  (re-raised with the file)
            info = self.dataset.get_data_info(idx)
            raise BadSampleError(
                f'bad sample {idx} (image {info.get("img_path")}, label '
                f'{info.get("seg_map_path")}): loading failed with '
                f'{type(err).__name__}: {err}') from err
        if self.check_labels:
            self._check_loaded_labels(idx, out)
        return out

    def _report(self, path: str, problem: str) -> None:
        if self.report_file is None:
            return
        line = f'{path}\t{" ".join(problem.split())}\n'
        with open(self.report_file, 'a', encoding='utf-8') as f:
            f.write(line)

    def __getitem__(self, idx: int) -> Any:
        n = len(self.dataset)
        last: Optional[BadSampleError] = None
        for attempt in range(self.max_skips + 1):
            j = (idx + attempt) % n
            try:
                return self._load(j)
            except BadSampleError as err:
                if not self.skip_bad:
                    raise
                last = err
                path = str(self.dataset.get_data_info(j).get('img_path'))
                if path not in self.bad_samples:
                    self.bad_samples[path] = str(err)
                    self._report(path, str(err))
                    print_log(
                        f'skipping {err} ({self.num_bad} bad samples so '
                        'far)',
                        logger='current',
                        level=logging.WARNING)
        raise BadSampleError(
            f'{self.max_skips + 1} consecutive bad samples from index {idx}; '
            f'last: {last}')


def read_bad_sample_report(report_file: str) -> Dict[str, str]:
    """``{image path: problem}`` of a ``report_file`` written by
    :class:`CheckedDataset` (all workers, repeats merged); {} if absent."""
    out: Dict[str, str] = {}
    if not osp.isfile(report_file):
        return out
    with open(report_file, encoding='utf-8') as f:
        for line in f:
            path, _, problem = line.rstrip('\n').partition('\t')
            out.setdefault(path, problem)
    return out


def wrap_checked(dataloader_cfg: Mapping,
                 skip_bad: bool = False,
                 report_file: Optional[str] = None) -> dict:
    """A dataloader config whose dataset is wrapped in
    :class:`CheckedDataset` (unless it already is).

    Args:
        dataloader_cfg: an mmengine dataloader config with ``dataset``.
        skip_bad, report_file: see :class:`CheckedDataset`.

    Returns:
        A copy of ``dataloader_cfg``.
    """
    cfg = copy.deepcopy(dict(dataloader_cfg))
    dataset = dict(cfg['dataset'])
    if dataset.get('type') != 'CheckedDataset':
        dataset = dict(type='CheckedDataset', dataset=dataset)
    dataset['skip_bad'] = skip_bad
    if report_file is not None:
        dataset['report_file'] = report_file
    cfg['dataset'] = dataset
    return cfg


_IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def _leaf_datasets(dataset_cfg: Mapping) -> List[Mapping]:
    inner = list(dataset_cfg.get('datasets') or [])
    if isinstance(dataset_cfg.get('dataset'), Mapping):
        inner.append(dataset_cfg['dataset'])
    if not inner:
        return [dataset_cfg]
    return [leaf for cfg in inner for leaf in _leaf_datasets(cfg)]


def check_image_folders(dataset_cfg: Mapping,
                        what: str = 'the dataset') -> None:
    """Fail before anything is built if an image folder of a dataset
    config is missing or holds no image.

    The folder is ``data_root / data_prefix['img_path']`` (relative roots
    resolve against the current directory, as in mmseg); wrappers
    (``dataset`` / ``datasets`` entries) are followed; datasets without
    ``data_prefix.img_path`` are not checked.

    Raises:
        FileNotFoundError: naming the folder and ``what``.
    """
    for leaf in _leaf_datasets(dataset_cfg):
        prefix = (leaf.get('data_prefix') or {}).get('img_path')
        if prefix is None:
            continue
        folder = osp.join(str(leaf.get('data_root') or ''), str(prefix))
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'image folder of {what} does not exist: {folder!r} '
                f'(resolved against {osp.abspath(".")}); set its data_root')
        has_image = any(f.lower().endswith(_IMAGE_SUFFIXES)
                        for _, _, files in os.walk(folder) for f in files)
        if not has_image:
            raise FileNotFoundError(
                f'image folder of {what} holds no image '
                f'({", ".join(_IMAGE_SUFFIXES)}): {folder!r}')
