"""Test-time post-processors."""
from .dcp_tag_validator import DCPTagValidator

__all__ = ['DCPTagValidator']
