"""Test-time post-processors."""
from .dcp_tag_validator import DCPTagValidator
from .dpseg_prompt_refiner import DPSegPromptRefiner

__all__ = ['DCPTagValidator', 'DPSegPromptRefiner']
