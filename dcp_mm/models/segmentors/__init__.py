"""Segmentors."""
from .dpseg_encoder_decoder import DPSegEncoderDecoder
from .open_vocab_encoder_decoder import OpenVocabEncoderDecoder

__all__ = ['OpenVocabEncoderDecoder', 'DPSegEncoderDecoder']
