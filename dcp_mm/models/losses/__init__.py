"""Losses."""
from .category_bce_loss import CategoryBCELoss

__all__ = ['CategoryBCELoss']
