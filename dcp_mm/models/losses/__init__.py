"""Losses."""
from .category_bce_loss import CategoryBCELoss, constant_prediction_bce

__all__ = ['CategoryBCELoss', 'constant_prediction_bce']
