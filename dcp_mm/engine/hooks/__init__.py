"""Runner hooks."""
from .ov_vocabulary_hook import OVVocabularyHook

__all__ = ['OVVocabularyHook']
