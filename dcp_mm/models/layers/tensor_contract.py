"""Tensor contracts: which tensors each part of a segmentor needs and gives.

Every part of :class:`~dcp_mm.models.segmentors.OpenVocabEncoderDecoder`
(backbone, text encoder, selector, neck, decode head, post-processor)
declares two attributes (class attributes, or properties where the answer
depends on the part's switches):

* ``provides``: the tensors it adds to the data flow;
* ``requires``: the tensors it consumes.

Each is a set of tensor names from :data:`TENSORS`, or a mapping name ->
spec, where a spec (an int, or a tuple whose ``None`` entries match
anything) pins a size, e.g. ``{'cost_features': (d, P)}``. A part may also
give ``contract_hints`` (name -> how to change *this* part so that it no
longer needs the tensor). :func:`check_tensor_contracts` walks the parts in
data-flow order and raises a ``ValueError`` naming both parts (their
registry types) when a tensor is missing or its sizes differ, so a bad
recombination fails when the model is built instead of deep in a forward.
"""
from typing import (Any, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import torch.nn as nn

Spec = Any  # None (any size), an int, or a tuple of ints / None
Contract = Union[Mapping[str, Spec], frozenset, set, tuple, list]


class TensorInfo(NamedTuple):
    """A tensor of the data flow: who makes it and what it is."""
    provider: str  # the part (role) that normally provides it
    description: str  # shapes, with the letters of the house style
    spec: str  # meaning of the spec values ('' if never pinned)
    fix: str  # how to get it when it is missing


TENSORS: Dict[str, TensorInfo] = {
    'cls_embed':
    TensorInfo('backbone', 'image embedding (B, D)', 'D',
               'use a CLIP image encoder'),
    'dense_embeds':
    TensorInfo('backbone', 'joint-space dense embeddings (B, D, h, w)', 'D',
               'use a CLIP image encoder'),
    'grid_feats':
    TensorInfo(
        'backbone', 'single-scale intermediate features at the dense grid, '
        '[(B, C_v, h, w)] (ViT blocks out_indices)', 'C_v',
        'use CLIPViTBackbone'),
    'pyramid_feats':
    TensorInfo(
        'backbone', 'hierarchical features [(B, C_i, H/s, W/s) for s in '
        '(4, 8, 16, 32)] (ConvNeXt stages res2..res5)', '(C_2, .., C_5)',
        'use CLIPConvNeXtBackbone'),
    'attn':
    TensorInfo('backbone', 'last-block patch attention (B, N, N)', '',
               'build CLIPViTBackbone with with_attn=True'),
    'text_embeds':
    TensorInfo('text_encoder', 'text embeddings (T, P, D)', 'D',
               'set model.text_encoder'),
    'selection':
    TensorInfo('selector', 'CategorySelection, (B, K) indices and mask', '',
               'set model.selector (or None for all categories)'),
    'cls_logits':
    TensorInfo('selector', 'image-level logits (B, T) in CategorySelection',
               '', 'use a selector that returns cls_logits'),
    'cost_features':
    TensorInfo(
        'neck', 'CostFeatures, cost_embed (B, K, d, h, w) and cost_volume '
        '(B, K, P, h, w)', '(d, P)',
        'set model.neck: DCPTextGuidedAlignNeck (with_ca=False, '
        'with_sa=False only embeds the cost volume, as SED) or '
        'CATSegAggregationNeck'),
}
"""The tensors passed between the parts of an OpenVocabEncoderDecoder."""

SPEC_FIXES: Dict[str, str] = {
    'dense_embeds':
    'use the image and text towers of one CLIP model and '
    'leave neck.embed_dims to the segmentor',
    'text_embeds':
    'use the image and text towers of one CLIP model and '
    'leave neck.embed_dims to the segmentor',
    'grid_feats':
    'leave decode_head.clip_channels to the segmentor',
    'pyramid_feats':
    'leave decode_head.guidance_in_dims and clip_channels '
    'to the segmentor',
    'cost_features':
    'set decode_head.in_channels to neck.cost_dims and '
    'leave num_templates to the segmentor',
}
"""How to fix a size mismatch of a tensor."""


def as_contract(value: Optional[Contract]) -> Dict[str, Spec]:
    """A set of names or a mapping name -> spec, as a dict name -> spec."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        out = dict(value)
    else:
        out = {name: None for name in value}
    unknown = sorted(set(out) - set(TENSORS))
    if unknown:
        raise ValueError(f'unknown tensor names {unknown} in a contract; '
                         f'known: {sorted(TENSORS)}')
    return out


def contract_of(part: Optional[nn.Module]) -> Tuple[Dict, Dict]:
    """(requires, provides) of a part; a part without them has none."""
    if part is None:
        return {}, {}
    return (as_contract(getattr(part, 'requires', None)),
            as_contract(getattr(part, 'provides', None)))


def specs_conflict(need: Spec, have: Spec) -> bool:
    """True if two specs pin different sizes (None matches anything)."""
    if need is None or have is None:
        return False
    if isinstance(need, tuple) and isinstance(have, tuple):
        return len(need) != len(have) or any(
            specs_conflict(a, b) for a, b in zip(need, have))
    return need != have


def part_name(role: str, part: Optional[nn.Module]) -> str:
    """'decode_head SEDGradualFusionHead', 'neck None'."""
    return f'{role} {type(part).__name__ if part is not None else None}'


def check_tensor_contracts(
        parts: Sequence[Tuple[str, Optional[nn.Module]]],
        defaults: Optional[Mapping[str, Contract]] = None) -> None:
    """Check that every part gets the tensors it requires, in flow order.

    Args:
        parts: (role, module or None) in data-flow order, e.g.
            ``[('backbone', ...), ('text_encoder', ...), ('selector', None),
            ...]``.
        defaults: role -> what the caller provides itself when that part is
            None (the segmentor selects all categories without a selector).

    Raises:
        ValueError: naming the consumer and the provider (registry types),
            the missing tensors or the differing sizes, and the fix.
    """
    defaults = dict(defaults or {})
    modules = dict(parts)
    # tensor name -> (role of the part that made it, its spec)
    available: Dict[str, Tuple[str, Spec]] = {}
    for role, part in parts:
        requires, provides = contract_of(part)
        if part is None and role in defaults:
            provides = as_contract(defaults[role])
        consumer = part_name(role, part)
        # in the order of TENSORS: messages do not depend on set order
        missing = [n for n in TENSORS if n in requires and n not in available]
        if missing:
            # report every tensor the first lacking provider owes
            src = TENSORS[missing[0]].provider
            names = [n for n in missing if TENSORS[n].provider == src]
            raise ValueError(
                _missing_message(consumer, part_name(src, modules.get(src)),
                                 names, getattr(part, 'contract_hints', None)))
        for name in (n for n in TENSORS if n in requires):
            need = requires[name]
            src, have = available[name]
            if specs_conflict(need, have):
                info = TENSORS[name]
                provider = part_name(src, modules.get(src))
                raise ValueError(
                    f'cannot compose {consumer} with {provider}: '
                    f'{_type(consumer)} needs {name} with {info.spec} = '
                    f'{need}, {provider} gives {info.spec} = {have}. Fix: '
                    f'{SPEC_FIXES.get(name, "make the sizes agree")}.')
        for name, spec in provides.items():
            available[name] = (role, spec)


def _type(name: str) -> str:
    """'decode_head SEDGradualFusionHead' -> 'SEDGradualFusionHead'."""
    return name.split(' ', 1)[1]


def _missing_message(consumer: str, provider: str, names: Sequence[str],
                     hints: Optional[Mapping[str, str]]) -> str:
    """The error text for tensors that no earlier part provides."""
    hints = dict(hints or {})
    needs = ' and '.join(f'{n} ({TENSORS[n].description})' for n in names)
    fixes = '; '.join(TENSORS[n].fix +
                      (f' (or {hints[n]})' if n in hints else '')
                      for n in names)
    return (f'cannot compose {consumer} with {provider}: {_type(consumer)} '
            f'needs {needs}, which {provider} does not provide. Fix: '
            f'{fixes}.')
