"""What a cost-feature neck gives a cost-based decode head."""
from dataclasses import dataclass
from typing import Optional

from torch import Tensor

from .composition import CompositionError


@dataclass
class CostFeatures:
    """Output of a cost-feature neck, input of a cost-based decode head.

    Attributes:
        cost_embed: (B, K, d, h, w) cost-volume feature (refined by the neck).
        cost_volume: (B, K, P, h, w) initial cost volume C_0, cosine
            similarities in [-1, 1].
    """
    cost_embed: Tensor
    cost_volume: Tensor


@dataclass(frozen=True)
class CostFeatureSpec:
    """The sizes of a neck's :class:`CostFeatures` (build time).

    Attributes:
        source: the neck, e.g. ``'neck DCPTextGuidedAlignNeck'``.
        cost_dims: d of ``cost_embed``.
        num_templates: P of ``cost_volume``.
    """
    source: str
    cost_dims: int
    num_templates: int


NO_NECK_FIX = ('set model.neck: DCPTextGuidedAlignNeck (with_ca=False, '
               'with_sa=False only embeds the cost volume, as SED) or '
               'CATSegAggregationNeck')


def require_cost_features(consumer: str,
                          spec: Optional[CostFeatureSpec],
                          cost_dims: int,
                          num_templates: Optional[int] = None,
                          neck: str = 'neck None') -> CostFeatureSpec:
    """Check that a neck provides cost features of the given sizes.

    Args:
        consumer: the head, e.g. ``'decode_head DCPSpatialEnhancedHead'``.
        spec: the neck's spec, None without a neck.
        cost_dims: d the head was built for.
        num_templates: P the head was built for (None: any).
        neck: the name of the (missing) neck for the message.

    Raises:
        CompositionError: no neck, or other sizes.
    """
    if spec is None:
        raise CompositionError(
            consumer, neck, 'cost features (B, K, d, h, w) and the cost '
            f'volume (B, K, P, h, w), which {neck} does not provide',
            NO_NECK_FIX)
    if spec.cost_dims != cost_dims or (num_templates is not None and
                                       spec.num_templates != num_templates):
        raise CompositionError(
            consumer, spec.source,
            f'cost features with (d, P) = ({cost_dims}, {num_templates}), '
            f'{spec.source} gives ({spec.cost_dims}, {spec.num_templates})',
            'set decode_head.in_channels to neck.cost_dims and leave '
            'num_templates to the segmentor')
    return spec
