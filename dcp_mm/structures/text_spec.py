"""What a text encoder gives the rest of the segmentor (build time)."""
from dataclasses import dataclass

from .composition import CompositionError


@dataclass(frozen=True)
class TextSpec:
    """Text embeddings (T, P, D), L2-normalised per template.

    Attributes:
        source: the text encoder, e.g. ``'text_encoder OpenCLIPTextEncoder'``.
        embed_dims: D.
        num_templates: P.
    """
    source: str
    embed_dims: int
    num_templates: int

    def require(self, consumer: str, embed_dims: int,
                num_templates: int) -> None:
        """Raise :class:`CompositionError` unless (P, D) match."""
        if (self.num_templates, self.embed_dims) != (num_templates,
                                                     embed_dims):
            raise CompositionError(
                consumer, self.source,
                f'(P, D) = ({num_templates}, {embed_dims}) text embeddings, '
                f'{self.source} gives ({self.num_templates}, '
                f'{self.embed_dims})', 'use the image and text towers of '
                'one CLIP model and leave neck.embed_dims and num_templates '
                'to the segmentor')
