"""Pascal VOC-20 (VOC 2012 val without background)."""
from mmseg.datasets import PascalVOCDataset
from mmseg.registry import DATASETS

from .class_names import PASCAL_VOC_20_CLASSES
from .utils import reduce_zero_label_required


@DATASETS.register_module()
class PascalVOC20Dataset(PascalVOCDataset):
    """Pascal VOC-20: the 20 object classes, background ignored.

    Files as mmseg's :class:`~mmseg.datasets.PascalVOCDataset` under
    ``data/VOCdevkit/VOC2012``: ``JPEGImages/*.jpg``,
    ``SegmentationClass/*.png`` (0 = background, 1..20, 255 = boundary) and
    ``ImageSets/Segmentation/val.txt``. ``reduce_zero_label=True`` maps
    background 0 -> 255 (ignored), 1..20 -> 0..19 and keeps 255: exactly
    CAT-Seg's ``prepare_voc.py`` ``clsID_to_trID``. (CAT-Seg also drops the
    images whose labels become all-ignore; they contribute no pixel to the
    metric, so keeping them changes nothing.) Class names: CAT-Seg
    ``datasets/voc20.json``. Palette: mmseg's VOC palette without
    background.

    Metainfo keys: ``classes`` (20), ``palette``, ``ignore_index`` (255),
    ``label_map``, ``reduce_zero_label`` (True).

    Args:
        ann_file (str): Split file, e.g. 'ImageSets/Segmentation/val.txt'.
        reduce_zero_label (bool): Must be True. Default: True.
        ignore_index (int): Ignored label value. Default: 255.
        **kwargs: :class:`~mmseg.datasets.PascalVOCDataset` arguments.

    Raises:
        ValueError: ``reduce_zero_label=False``.
    """
    METAINFO = dict(
        classes=PASCAL_VOC_20_CLASSES,
        palette=PascalVOCDataset.METAINFO['palette'][1:],
        ignore_index=255)

    def __init__(self,
                 ann_file: str,
                 reduce_zero_label: bool = True,
                 ignore_index: int = 255,
                 **kwargs) -> None:
        reduce_zero_label_required(reduce_zero_label, True,
                                   type(self).__name__,
                                   'background 0 is ignored')
        super().__init__(
            ann_file=ann_file,
            reduce_zero_label=reduce_zero_label,
            ignore_index=ignore_index,
            **kwargs)
        self._metainfo['ignore_index'] = self.ignore_index
