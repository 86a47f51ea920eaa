"""Losses."""
from .category_bce_loss import CategoryBCELoss, constant_prediction_bce
from .representation_compensation_loss import RepresentationCompensationLoss

__all__ = [
    'CategoryBCELoss', 'constant_prediction_bce',
    'RepresentationCompensationLoss'
]
