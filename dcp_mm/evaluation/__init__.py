"""dcp_mm.evaluation: metrics registered into ``mmseg.registry.METRICS``."""
from .ov_iou_metric import OVIoUMetric

__all__ = ['OVIoUMetric']
