"""ADE20K-847 (full ADE20K vocabulary) in CAT-Seg's detectron2 layout."""
from mmseg.registry import DATASETS

from .class_names import ADE20K_847_CLASSES
from .wide_label_seg_dataset import WideLabelSegDataset


@DATASETS.register_module()
class ADE20K847Dataset(WideLabelSegDataset):
    """ADE20K-847, zero-shot evaluation set with 847 classes.

    Layout made by CAT-Seg's ``datasets/prepare_ade20k_full.py`` under
    ``data/ade/ADE20K_2021_17_01``: ``images_detectron2/validation/*.jpg``
    and ``annotations_detectron2/validation/*.tif``. Labels are uint16 TIFF
    train ids 0..846 with 65535 = ignore; they must be loaded with
    :class:`~dcp_mm.datasets.LoadOVAnnotations` (mmseg's ``LoadAnnotations``
    casts to uint8 and is refused). mmseg has no such dataset, so this
    subclasses :class:`WideLabelSegDataset`. Class names: CAT-Seg
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
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            ignore_index=ignore_index,
            **kwargs)
