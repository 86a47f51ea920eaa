"""Runner hooks."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .clip_activation_checkpoint_hook import CLIPActivationCheckpointHook
from .model_meta_hook import ModelMetaHook
from .ov_vocabulary_hook import OVVocabularyHook
from .rng_state_hook import RNGStateHook

__all__ = [
    'OVVocabularyHook', 'AtomicCheckpointHook', 'CLIPActivationCheckpointHook',
    'RNGStateHook', 'ModelMetaHook'
]
