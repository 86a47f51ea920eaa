"""Pascal VOC-20b: VOC 2012 val with background, CAT-Seg protocol."""
from typing import Dict, Optional, Sequence

from mmseg.datasets import PascalContextDataset59, PascalVOCDataset
from mmseg.registry import DATASETS

from .class_names import PASCAL_CONTEXT_59_CLASSES, PASCAL_VOC_20B_CLASSES
from .utils import reduce_zero_label_required

#: Number of VOC object classes; index of 'background' in the evaluation.
NUM_VOC_OBJECTS = 20


def _voc20b_palette() -> list:
    """VOC object colours + Pascal Context colours of the stand-ins."""
    voc = PascalVOCDataset.METAINFO['palette'][1:]
    pc = PascalContextDataset59.METAINFO['palette']
    rest = [
        pc[PASCAL_CONTEXT_59_CLASSES.index(name)]
        for name in PASCAL_VOC_20B_CLASSES[NUM_VOC_OBJECTS:]
    ]
    return list(voc) + rest


@DATASETS.register_module()
class PascalVOC20bDataset(PascalVOCDataset):
    """Pascal VOC-20b: 20 VOC classes + background, background predicted
    through 39 Pascal Context stand-in categories.

    CAT-Seg protocol (``datasets/prepare_voc.py`` ``clsID_to_trID_bg``,
    ``train_net.py`` ``VOCbEvaluator``, ``datasets/voc20b.json``):

    * the model is queried with 59 names (``classes``): the 20 VOC classes
      followed by 39 Pascal Context categories that stand in for
      'background' (``'bag'``, ``'bed'``, ... ``'wood'``);
    * label files are VOC's ``SegmentationClass`` PNGs (0 = background,
      1..20, 255 = boundary). This dataset maps them with mmseg's
      ``label_map`` mechanism (applied by ``LoadAnnotations``) to
      1..20 -> 0..19, background 0 -> 20, 255 kept (ignored);
    * evaluation is over 21 classes (``eval_classes`` = VOC-20 + 'background')
      and every prediction >= 20 counts as background: the metainfo key
      ``pred_remap`` is the lookup table ``(0, 1, ..., 19, 20, 20, ..., 20)``
      (length 59) that :class:`~dcp_mm.evaluation.OVIoUMetric` applies to
      the predicted indices before computing the confusion.

    Metainfo keys: ``classes`` (59), ``palette`` (59: VOC colours, then the
    Pascal Context colours of the stand-ins), ``ignore_index`` (255),
    ``eval_classes`` (21), ``pred_remap`` (59 ints in [0, 21)),
    ``label_map`` (the fixed GT remap above), ``reduce_zero_label`` (False).

    Args:
        ann_file (str): Split file, e.g. 'ImageSets/Segmentation/val.txt'.
        reduce_zero_label (bool): Must be False (background is a class).
            Default: False.
        ignore_index (int): Ignored label value. Default: 255.
        **kwargs: :class:`~mmseg.datasets.PascalVOCDataset` arguments.

    Raises:
        ValueError: ``reduce_zero_label=True``, or ``metainfo`` changes the
            class list (the GT and prediction remaps assume this exact
            list).
    """
    METAINFO = dict(
        classes=PASCAL_VOC_20B_CLASSES,
        palette=_voc20b_palette(),
        ignore_index=255,
        eval_classes=PASCAL_VOC_20B_CLASSES[:NUM_VOC_OBJECTS] +
        ('background', ),
        pred_remap=tuple(
            min(i, NUM_VOC_OBJECTS)
            for i in range(len(PASCAL_VOC_20B_CLASSES))))

    def __init__(self,
                 ann_file: str,
                 reduce_zero_label: bool = False,
                 ignore_index: int = 255,
                 **kwargs) -> None:
        reduce_zero_label_required(reduce_zero_label, False,
                                   type(self).__name__,
                                   'background 0 is evaluated as class 20')
        super().__init__(
            ann_file=ann_file,
            reduce_zero_label=reduce_zero_label,
            ignore_index=ignore_index,
            **kwargs)
        self._metainfo['ignore_index'] = self.ignore_index

    @classmethod
    def get_label_map(cls,
                      new_classes: Optional[Sequence] = None
                      ) -> Dict[int, int]:
        """GT remap VOC id -> evaluation id: 0 -> 20, k -> k - 1 (1..20).

        Overrides mmseg's class-subset label map: the class list of this
        dataset is fixed.

        Args:
            new_classes (Sequence[str], optional): Classes from ``metainfo``;
                must be None or this dataset's 59 names.

        Returns:
            dict[int, int]: The label map; 255 is not in it and stays 255.

        Raises:
            ValueError: ``new_classes`` differs from the default list.
        """
        if new_classes is not None and \
                tuple(new_classes) != tuple(cls.METAINFO['classes']):
            raise ValueError(
                'PascalVOC20bDataset does not support a custom class list: '
                'its GT remap (background -> 20) and prediction remap '
                '(>= 20 -> background) assume the 59 CAT-Seg voc20b names')
        label_map = {k: k - 1 for k in range(1, NUM_VOC_OBJECTS + 1)}
        label_map[0] = NUM_VOC_OBJECTS
        return label_map
