"""Optimizer wrappers."""
from .bf16_autocast_optim_wrapper import BF16AutocastOptimWrapper

__all__ = ['BF16AutocastOptimWrapper']
