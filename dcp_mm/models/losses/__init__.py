"""Losses."""
from .category_bce_loss import CategoryBCELoss
from .representation_compensation_loss import RepresentationCompensationLoss

__all__ = ['CategoryBCELoss', 'RepresentationCompensationLoss']
