"""Pascal Context-459 (full vocabulary) in CAT-Seg's detectron2 layout."""
from mmseg.registry import DATASETS

from .class_names import PASCAL_CONTEXT_459_CLASSES
from .wide_label_seg_dataset import WideLabelSegDataset


@DATASETS.register_module()
class PascalContext459Dataset(WideLabelSegDataset):
    """Pascal Context-459, zero-shot evaluation set with 459 classes.

    Layout made by CAT-Seg's ``datasets/prepare_pascal_context_459.py``
    under ``data/VOCdevkit/VOC2010``: ``JPEGImages/*.jpg`` and
    ``annotations_detectron2/pc459_val/*.tif``, where each TIFF is the
    release's ``trainval/<id>.mat`` ``LabelMap - 1`` stored as uint16, i.e.
    train ids 0..458. CAT-Seg registers the set with ``ignore_label=459``
    (``cat_seg/data/datasets/register_pascal_context.py``), which is the
    default ``ignore_index`` here. The image list is mmseg's
    ``ImageSets/SegmentationContext/val.txt`` (the same 5104 ids as
    CAT-Seg's ``pascalcontext_val.txt``, which works as ``ann_file`` too).
    Labels must be loaded with :class:`~dcp_mm.datasets.LoadOVAnnotations`.

    Not a subclass of mmseg's ``PascalContextDataset59``: that class fixes
    PNG labels with ``reduce_zero_label=True``, both wrong here. Class
    names: CAT-Seg ``datasets/pc459.json``. Palette: mmseg's deterministic
    generated palette (seed 42).

    Metainfo keys: ``classes`` (459), ``palette``, ``ignore_index`` (459),
    ``label_map``, ``reduce_zero_label`` (False).

    Args:
        ann_file (str): Split file. Default: ''.
        img_suffix (str): Image suffix. Default: '.jpg'.
        seg_map_suffix (str): Label suffix. Default: '.tif'.
        reduce_zero_label (bool): Must be False. Default: False.
        ignore_index (int): Ignored label value. Default: 459.
        **kwargs: :class:`~mmseg.datasets.BaseSegDataset` arguments.

    Raises:
        ValueError: ``reduce_zero_label=True`` or the pipeline uses mmseg's
            uint8 ``LoadAnnotations``.
    """
    METAINFO = dict(classes=PASCAL_CONTEXT_459_CLASSES, ignore_index=459)

    def __init__(self,
                 ann_file: str = '',
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.tif',
                 reduce_zero_label: bool = False,
                 ignore_index: int = 459,
                 **kwargs) -> None:
        super().__init__(
            ann_file=ann_file,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            ignore_index=ignore_index,
            **kwargs)
