"""ADE20K-150 with CAT-Seg's open-vocabulary class names."""
from mmseg.datasets import ADE20KDataset
from mmseg.registry import DATASETS

from .class_names import ADE20K_150_CLASSES


@DATASETS.register_module()
class ADE20K150Dataset(ADE20KDataset):
    """ADE20K-150 (ADEChallengeData2016), zero-shot evaluation set.

    Files as mmseg's :class:`~mmseg.datasets.ADE20KDataset`:
    ``images/validation/*.jpg`` and ``annotations/validation/*.png`` (uint8,
    0 = other, 1..150 = classes). ``reduce_zero_label=True`` (mmseg's
    default) turns 0 into 255 (ignored) and 1..150 into train ids 0..149,
    as CAT-Seg's ``prepare_ade20k_150.py`` does. Class names: CAT-Seg
    ``datasets/ade150.json`` (same strings as mmseg, including ``'bed '``).
    Palette: mmseg's.

    Metainfo keys: ``classes`` (150), ``palette``, ``ignore_index`` (255),
    ``label_map``, ``reduce_zero_label``.

    Args:
        ignore_index (int): Ignored label value. Default: 255.
        **kwargs: :class:`~mmseg.datasets.ADE20KDataset` arguments.
    """
    METAINFO = dict(
        classes=ADE20K_150_CLASSES,
        palette=ADE20KDataset.METAINFO['palette'],
        ignore_index=255)

    def __init__(self, ignore_index: int = 255, **kwargs) -> None:
        super().__init__(ignore_index=ignore_index, **kwargs)
        self._metainfo['ignore_index'] = self.ignore_index
