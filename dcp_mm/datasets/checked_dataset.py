"""Dataset wrapper that checks every sample's files before loading it."""
import io
import logging
import os.path as osp
from typing import Any, Dict, Optional, Tuple, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmseg.registry import DATASETS
from PIL import Image

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
    * label map size (W x H) different from the image size.

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
                 max_skips: int = 10) -> None:
        if max_skips < 0:
            raise ValueError(f'max_skips must be >= 0, got {max_skips}')
        self.dataset = DATASETS.build(dataset) if isinstance(dataset,
                                                             dict) else dataset
        self.skip_bad = skip_bad
        self.check_files = check_files
        self.max_skips = max_skips
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

    def _load(self, idx: int) -> Any:
        problem = self.check_sample(idx) if self.check_files else None
        if problem is not None:
            raise BadSampleError(f'bad sample {idx}: {problem}')
        try:
            return self.dataset[idx]
        except Exception as err:  # noqa: B902  (re-raised with the file)
            info = self.dataset.get_data_info(idx)
            raise BadSampleError(
                f'bad sample {idx} (image {info.get("img_path")}, label '
                f'{info.get("seg_map_path")}): loading failed with '
                f'{type(err).__name__}: {err}') from err

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
                    print_log(
                        f'skipping {err} ({self.num_bad} bad samples so '
                        'far)',
                        logger='current',
                        level=logging.WARNING)
        raise BadSampleError(
            f'{self.max_skips + 1} consecutive bad samples from index {idx}; '
            f'last: {last}')
