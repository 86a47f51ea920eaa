"""Engine parts (hooks) registered into mmseg's registries."""
from .hooks import OVVocabularyHook

__all__ = ['OVVocabularyHook']
