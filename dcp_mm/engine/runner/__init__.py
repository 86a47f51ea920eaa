"""Runners."""
from .ov_seg_runner import OVSegRunner

__all__ = ['OVSegRunner']
