"""Unregistered helpers of the models that are not layers."""
from .sliding_window import ViewAccumulator, window_boxes

__all__ = ['ViewAccumulator', 'window_boxes']
