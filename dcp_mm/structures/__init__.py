"""Typed data passed between the parts of an open-vocabulary segmentor.

These dataclasses are the only contract between parts: a backbone returns
:class:`CLIPImageFeatures` (described at build time by
:class:`CLIPFeatureSpec`), a text encoder (T, P, D) embeddings
(:class:`TextSpec`), a selector a :class:`CategorySelection`, a neck
:class:`CostFeatures` (:class:`CostFeatureSpec`), a decode head reads
:class:`HeadInputs`, and inference returns :class:`OVSegLogits`. A part
that cannot use what another gives raises :class:`CompositionError` at
build time.
"""
from .category_selection import (CategorySelection, check_negatives,
                                 pad_selections)
from .clip_image_features import (CLIPFeatureSpec, CLIPImageFeatures,
                                  check_channels)
from .composition import CompositionError, check_composition, part_name
from .cost_features import CostFeatures, CostFeatureSpec, require_cost_features
from .head_inputs import HeadInputs
from .ov_seg_logits import OVSegLogits
from .text_spec import TextSpec
from .visual_prompts import VisualPrompts

__all__ = [
    'CategorySelection', 'check_negatives', 'pad_selections',
    'CLIPFeatureSpec', 'CLIPImageFeatures', 'check_channels',
    'CompositionError', 'check_composition', 'part_name', 'CostFeatures',
    'CostFeatureSpec', 'require_cost_features', 'HeadInputs', 'OVSegLogits',
    'TextSpec', 'VisualPrompts'
]
