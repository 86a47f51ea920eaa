"""Base of the datasets whose labels need more than 8 bits."""
from mmseg.datasets import BaseSegDataset

from .utils import check_wide_label_loader, reduce_zero_label_required


class WideLabelSegDataset(BaseSegDataset):
    """A :class:`~mmseg.datasets.BaseSegDataset` with uint16 TIFF labels
    (ADE20K-847, Pascal Context-459): train id 0 is a class (no zero-label
    reduction), the ignore index is set in the metainfo, and the pipeline
    must load labels with :class:`~dcp_mm.datasets.LoadOVAnnotations`
    (mmseg's ``LoadAnnotations`` casts to uint8).

    Args:
        reduce_zero_label: must be False.
        ignore_index: ignored label value (65535 for ADE-847, 459 for
            PC-459).
        **kwargs: :class:`~mmseg.datasets.BaseSegDataset` arguments.

    Raises:
        ValueError: ``reduce_zero_label=True`` or the pipeline uses mmseg's
            uint8 ``LoadAnnotations``.
    """

    def __init__(self,
                 *,
                 reduce_zero_label: bool = False,
                 ignore_index: int,
                 **kwargs) -> None:
        reduce_zero_label_required(reduce_zero_label, False,
                                   type(self).__name__,
                                   'train id 0 is a class')
        super().__init__(
            reduce_zero_label=reduce_zero_label,
            ignore_index=ignore_index,
            **kwargs)
        self._metainfo['ignore_index'] = self.ignore_index
        check_wide_label_loader(self.pipeline.transforms, type(self).__name__)
