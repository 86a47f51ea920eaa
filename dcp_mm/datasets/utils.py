"""Unregistered helpers shared by the dcp_mm datasets."""
from typing import Sequence

from mmseg.datasets.transforms import LoadAnnotations

from .load_ov_annotations import LoadOVAnnotations


def check_wide_label_loader(transforms: Sequence, dataset_name: str) -> None:
    """Refuse mmseg's uint8 ``LoadAnnotations`` for uint16 label files.

    mmseg's ``LoadAnnotations`` casts every label map to ``uint8``, which
    silently wraps 16-bit train ids (e.g. ADE20K-847 id 300 -> 44, ignore
    65535 -> 255) into plausible but wrong labels. Datasets with 16-bit
    labels call this on their built pipeline.

    Args:
        transforms (Sequence): The built transforms (``Compose.transforms``).
        dataset_name (str): Dataset class name, for the message.

    Raises:
        ValueError: The pipeline contains mmseg's ``LoadAnnotations`` (and
            not the dtype-preserving :class:`LoadOVAnnotations`).
    """
    for t in transforms:
        if (isinstance(t, LoadAnnotations)
                and not isinstance(t, LoadOVAnnotations)):
            raise ValueError(
                f'{dataset_name} stores labels as 16-bit TIFF, but the '
                "pipeline uses mmseg's LoadAnnotations, which casts labels "
                "to uint8 and corrupts them; use dict(type='"
                "LoadOVAnnotations', ignore_index=...) instead")


def reduce_zero_label_required(value: bool, expected: bool, dataset_name: str,
                               reason: str) -> None:
    """Raise if ``reduce_zero_label`` contradicts the label format.

    Args:
        value (bool): The ``reduce_zero_label`` given to the dataset.
        expected (bool): The only value consistent with the label files.
        dataset_name (str): Dataset class name, for the message.
        reason (str): Why, for the message.

    Raises:
        ValueError: ``value != expected``.
    """
    if bool(value) != expected:
        raise ValueError(f'{dataset_name} requires reduce_zero_label='
                         f'{expected} ({reason}), got {value}')
