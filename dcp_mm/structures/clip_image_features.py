"""What a CLIP image encoder gives the rest of the segmentor."""
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from torch import Tensor

from .composition import CompositionError

LAYOUTS = ('grid', 'pyramid')


@dataclass
class CLIPImageFeatures:
    """Output of a CLIP backbone (``CLIPViTBackbone``,
    ``CLIPConvNeXtBackbone``).

    Attributes:
        cls_embed: (B, D) joint-space image embedding (CLIP's image
            embedding: ``ln_post`` then ``proj`` for ViT, the CLIP head of
            the pooled trunk for ConvNeXt), NOT L2-normalised.
        dense_embeds: (B, D, h, w) joint-space patch embeddings, NOT
            L2-normalised.
        inter_feats: intermediate features, raw (no norm / projection):
            ``'grid'`` layout (ViT): the requested blocks' outputs at the
            patch grid, each (B, C_v, h, w), [CLS] dropped; ``'pyramid'``
            layout (ConvNeXt): the stages res2..res5, (B, C_i, H/s, W/s)
            for s in (4, 8, 16, 32).
        attn_weights: (B, N, N) head-averaged softmax attention of the last
            ViT block between patches (N = h*w, rows = queries, values in
            [0, 1]), or None.
        last_feats: (B, C, h, w) raw output of the image tower's last
            layer at the dense grid, before any head or projection: the
            last ViT block's patch tokens (C = C_v, ordinary attention,
            [CLS] dropped) or the last ConvNeXt stage after ``norm_pre``
            (C = C_5). The features MAFT+'s representation compensation
            compares; None if the backbone does not give it.
    """
    cls_embed: Tensor
    dense_embeds: Tensor
    inter_feats: List[Tensor] = field(default_factory=list)
    attn_weights: Optional[Tensor] = None
    last_feats: Optional[Tensor] = None


@dataclass(frozen=True)
class CLIPFeatureSpec:
    """What a backbone's :class:`CLIPImageFeatures` hold (build time).

    Attributes:
        source: the backbone, e.g. ``'backbone CLIPViTBackbone'``.
        embed_dims: D of ``cls_embed`` / ``dense_embeds``.
        layout: ``'grid'`` (ViT blocks at the patch grid) or
            ``'pyramid'`` (ConvNeXt stages).
        channels: the width of each ``inter_feats`` entry.
        attention: whether ``attn_weights`` is filled.
    """
    source: str
    embed_dims: int
    layout: str
    channels: Tuple[int, ...]
    attention: bool

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f'layout must be one of {LAYOUTS}, got '
                             f'{self.layout!r}')

    def require_layout(self,
                       consumer: str,
                       layout: str,
                       fix: str = '') -> None:
        """Raise :class:`CompositionError` unless the layout is ``layout``.
        """
        if self.layout != layout:
            other = 'CLIPConvNeXtBackbone' if layout == 'pyramid' else \
                'CLIPViTBackbone'
            raise CompositionError(
                consumer, self.source,
                f'{_LAYOUT_NEEDS[layout]}, which {self.source} does not '
                f'provide ({_LAYOUT_NEEDS[self.layout]})',
                f'use {other}' + (f' (or {fix})' if fix else ''))

    def require_channels(self, consumer: str, index: int, channels: int,
                         fix: str) -> None:
        """Raise unless ``inter_feats[index]`` exists and has ``channels``.
        """
        if index >= len(self.channels):
            raise CompositionError(
                consumer, self.source,
                f'intermediate feature {index}, {self.source} gives '
                f'{len(self.channels)}', fix)
        if self.channels[index] != channels:
            raise CompositionError(
                consumer, self.source,
                f'intermediate feature {index} with {channels} channels, '
                f'{self.source} gives {self.channels[index]}', fix)

    def require_attention(self, consumer: str, fix: str) -> None:
        """Raise unless the last-block attention map is provided."""
        if not self.attention:
            raise CompositionError(
                consumer, self.source,
                'the last-block attention map (B, N, N), which '
                f'{self.source} does not provide',
                'build CLIPViTBackbone with with_attn=True' +
                (f' (or {fix})' if fix else ''))

    def require_embed_dims(self, consumer: str, embed_dims: int,
                           fix: str) -> None:
        """Raise unless D equals ``embed_dims``."""
        if self.embed_dims != embed_dims:
            raise CompositionError(
                consumer, self.source,
                f'D={embed_dims} embeddings, {self.source} gives '
                f'D={self.embed_dims}', fix)


_LAYOUT_NEEDS = dict(
    grid='ViT block features at the patch grid ((B, C_v, h, w) each)',
    pyramid='a ConvNeXt stage pyramid ((B, C_i, H/s, W/s) for s in '
    '(4, 8, 16, 32))')


def check_channels(spec: CLIPFeatureSpec, consumer: str,
                   wanted: Sequence[Tuple[int, int]], fix: str) -> None:
    """:meth:`CLIPFeatureSpec.require_channels` for (index, channels)
    pairs."""
    for index, channels in wanted:
        spec.require_channels(consumer, index, channels, fix)
