"""ADE20K-847 (full ADE20K vocabulary) in CAT-Seg's detectron2 layout."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .class_names import ADE20K_847_CLASSES
from .utils import check_wide_label_loader, reduce_zero_label_required


@DATASETS.register_module()
class ADE20K847Dataset(BaseSegDataset):
    """ADE20K-847, zero-shot evaluation set with 847 classes.

    Layout made by CAT-Seg's ``datasets/prepare_ade20k_full.py`` under
    ``data/ade/ADE20K_2021_17_01``: ``images_detectron2/validation/*.jpg``
    and ``annotations_detectron2/validation/*.tif``. Labels are uint16 TIFF
    train ids 0..846 with 65535 = ignore; they must be loaded with
    :class:`~dcp_mm.datasets.LoadOVAnnotations` (mmseg's ``LoadAnnotations``
    casts to uint8 and is refused). mmseg has no such dataset, so this
    subclasses :class:`~mmseg.datasets.BaseSegDataset`. Class names: CAT-Seg
    ``datasets/ade847.json`` (WordNet-style synonym strings). Palette:
    mmseg's deterministic generated palette (seed 42).

    Metainfo keys: ``classes`` (847), ``palette``, ``ignore_index`` (65535),
    ``label_map``, ``reduce_zero_label`` (False).

    Args:
        img_suffix (str): Image suffix. Default: '.jpg'.
        seg_map_suffix (str): Label suffix. Default: '.tif'.
        reduce_zero_label (bool): Must be False (0 is 'wall'). Default:
            False.
        ignore_index (int): Ignored label value. Default: 65535.
        **kwargs: :class:`~mmseg.datasets.BaseSegDataset` arguments.

    Raises:
        ValueError: ``reduce_zero_label=True`` or the pipeline uses mmseg's
            uint8 ``LoadAnnotations``.
    """
    METAINFO = dict(classes=ADE20K_847_CLASSES, ignore_index=65535)

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.tif',
                 reduce_zero_label: bool = False,
                 ignore_index: int = 65535,
                 **kwargs) -> None:
        reduce_zero_label_required(reduce_zero_label, False,
                                   type(self).__name__,
                                   'train id 0 is a class')
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            ignore_index=ignore_index,
            **kwargs)
        self._metainfo['ignore_index'] = self.ignore_index
        check_wide_label_loader(self.pipeline.transforms, type(self).__name__)
