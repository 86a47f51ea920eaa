"""Build-time composition errors, raised by the typed specs of the parts.

Every part of :class:`~dcp_mm.models.segmentors.OpenVocabEncoderDecoder`
describes what it produces with a frozen spec dataclass
(:class:`~dcp_mm.structures.CLIPFeatureSpec` for a backbone,
:class:`~dcp_mm.structures.TextSpec` for a text encoder,
:class:`~dcp_mm.structures.CostFeatureSpec` for a neck), and each consumer
checks the specs it is given with ``check_inputs`` when the segmentor is
built. A mismatch raises :class:`CompositionError` naming both parts (by
role and registry type) before any forward pass.
"""
from typing import Optional


def part_name(role: str, part: Optional[object]) -> str:
    """``'decode_head SEDGradualFusionHead'``, ``'neck None'``."""
    return f'{role} {type(part).__name__ if part is not None else None}'


class CompositionError(ValueError):
    """Two parts of a segmentor do not fit together.

    Attributes:
        consumer: the part that needs something, e.g.
            ``'decode_head SEDGradualFusionHead'``.
        provider: the part that should provide it, e.g.
            ``'backbone CLIPViTBackbone'``.
        need: what the consumer needs (a description with shapes).
        fix: how to make the parts fit.
    """

    def __init__(self, consumer: str, provider: str, need: str,
                 fix: str) -> None:
        self.consumer = consumer
        self.provider = provider
        self.need = need
        self.fix = fix
        super().__init__(f'cannot compose {consumer} with {provider}: '
                         f'{consumer.split(" ", 1)[-1]} needs {need}. '
                         f'Fix: {fix}.')


def check_composition(backbone: object,
                      text_encoder: object,
                      neck: Optional[object],
                      decode_head: object,
                      text_adapter: Optional[object] = None) -> None:
    """Check at build time that the parts of a segmentor fit together.

    The backbone's :class:`~dcp_mm.structures.CLIPFeatureSpec` and the text
    encoder's :class:`~dcp_mm.structures.TextSpec` must share D; the text
    adapter and the neck (``check_inputs(image, text)``) and the head
    (``check_inputs(image, cost, neck_name)``) check what they are given.

    Raises:
        CompositionError: naming the two parts that do not fit.
    """
    image, text = backbone.feature_spec, text_encoder.text_spec
    image.require_embed_dims(
        text.source, text.embed_dims,
        'use the image and text towers of one CLIP model')
    for part in (text_adapter, neck):
        if part is not None and hasattr(part, 'check_inputs'):
            part.check_inputs(image, text)
    decode_head.check_inputs(image,
                             neck.cost_spec if neck is not None else None,
                             part_name('neck', neck))
