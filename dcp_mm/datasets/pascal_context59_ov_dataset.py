"""Pascal Context-59 with CAT-Seg's open-vocabulary class names."""
from mmseg.datasets import PascalContextDataset59
from mmseg.registry import DATASETS

from .class_names import PASCAL_CONTEXT_59_CLASSES


@DATASETS.register_module()
class PascalContext59OVDataset(PascalContextDataset59):
    """Pascal Context-59, zero-shot evaluation set.

    Files as mmseg's :class:`~mmseg.datasets.PascalContextDataset59` under
    ``data/VOCdevkit/VOC2010``: ``JPEGImages/*.jpg``,
    ``SegmentationClassContext/*.png`` (uint8, 0 = background, 1..59) and
    ``ImageSets/SegmentationContext/val.txt`` (5104 ids).
    ``reduce_zero_label=True`` makes background 255 (ignored) and 1..59 the
    train ids 0..58, identical to CAT-Seg's ``prepare_pascal_context_59.py``
    output (``annotations_detectron2/pc59_val/*.png``, 0..58 and 255): to use
    that layout instead pass ``data_prefix=dict(img_path='JPEGImages',
    seg_map_path='annotations_detectron2/pc59_val')`` and
    ``reduce_zero_label=False``. Class names: CAT-Seg ``datasets/pc59.json``
    (``'diningtable'`` where mmseg says ``'table'``). Palette: mmseg's.

    Metainfo keys: ``classes`` (59), ``palette``, ``ignore_index`` (255),
    ``label_map``, ``reduce_zero_label``.

    Args:
        ignore_index (int): Ignored label value. Default: 255.
        **kwargs: :class:`~mmseg.datasets.PascalContextDataset59` arguments
            (``ann_file``, ``reduce_zero_label`` ...).
    """
    METAINFO = dict(
        classes=PASCAL_CONTEXT_59_CLASSES,
        palette=PascalContextDataset59.METAINFO['palette'],
        ignore_index=255)

    def __init__(self, ignore_index: int = 255, **kwargs) -> None:
        super().__init__(ignore_index=ignore_index, **kwargs)
        self._metainfo['ignore_index'] = self.ignore_index
