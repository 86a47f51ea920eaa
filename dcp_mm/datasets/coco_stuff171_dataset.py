"""COCO-Stuff-164k with CAT-Seg's 171 open-vocabulary class names."""
from mmseg.datasets import COCOStuffDataset
from mmseg.registry import DATASETS

from .class_names import COCO_STUFF_171_CLASSES


@DATASETS.register_module()
class COCOStuff171Dataset(COCOStuffDataset):
    """COCO-Stuff-164k, 171 classes: the OVSS training set.

    Same files and label format as mmseg's
    :class:`~mmseg.datasets.COCOStuffDataset` (164k version): images
    ``images/{train2017,val2017}/*.jpg``, labels
    ``annotations/{train2017,val2017}/*_labelTrainIds.png`` (uint8 train ids
    0..170, 255 = unlabeled/ignore, made by mmseg's ``coco_stuff164k.py``
    converter or CAT-Seg's ``prepare_coco_stuff.py``). Only the class names
    change: CAT-Seg ``datasets/coco.json`` (identical to mmseg's strings for
    this benchmark). Palette: mmseg's.

    Metainfo keys: ``classes`` (171 names), ``palette``, ``ignore_index``
    (255), plus mmseg's ``label_map`` / ``reduce_zero_label``.

    Args:
        img_suffix (str): Image suffix. Default: '.jpg'.
        seg_map_suffix (str): Label suffix. Default: '_labelTrainIds.png'.
        ignore_index (int): Ignored label value. Default: 255.
        **kwargs: :class:`~mmseg.datasets.BaseSegDataset` arguments.
    """
    METAINFO = dict(
        classes=COCO_STUFF_171_CLASSES,
        palette=COCOStuffDataset.METAINFO['palette'],
        ignore_index=255)

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '_labelTrainIds.png',
                 ignore_index: int = 255,
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            ignore_index=ignore_index,
            **kwargs)
        self._metainfo['ignore_index'] = self.ignore_index
