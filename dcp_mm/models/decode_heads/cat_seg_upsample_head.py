"""CAT-Seg's upsampling decoder (official ``Aggregator`` steps 5 and 8)."""
from typing import Optional

import torch.nn as nn
from mmseg.registry import MODELS
from torch import Tensor

from dcp_mm.structures import (CLIPFeatureSpec, CostFeatureSpec, HeadInputs,
                               require_cost_features)
from .shallow_guided_head import ShallowGuidedUpsampleHead


@MODELS.register_module()
class CATSegUpsampleHead(ShallowGuidedUpsampleHead):
    """CAT-Seg's decoder: cost features upsampled with CLIP block guidance.

    The CLIP block outputs ``inter_feats`` (blocks 4 / 8 for ViT-B, 8 / 16
    for ViT-L, 1-based) are upsampled by ``ConvTranspose2d`` to 256 ch at
    x2 (k2 s2) and 128 ch at x4 (k4 s4) (official ``upsample1/2``),
    projected by ``ReLU(Conv3x3)`` to 32 / 16 ch
    (``decoder_guidance_projection``); two :class:`UpsampleBlock` (ConvT x2
    to C - G, concat the guidance repeated over K, 2 x conv3x3-GN(out //
    16)-ReLU; 128 -> 64 -> 32) are followed by a 3x3 conv to one logit map
    per category. DCP-CLIP's decoder (:class:`DCPSpatialEnhancedHead`) with
    ``spatial_enhance=False, fuse_cost=False, fuse_attn=False`` computes the
    same function with the same parameter names.

    Source: CAT-Seg (Cho et al., CVPR 2024),
    https://github.com/cvlab-kaist/CAT-Seg (MIT licence),
    cat_seg/modeling/transformer/model.py ``Aggregator``.

    Args:
        in_channels: d, channels of the cost feature (128).
        channels: width of the last decoder layer (32).
        clip_channels: C_v, width of the CLIP block features (injected).
        num_templates: P (injected; unused by this head).
        decoder_dims: output widths of the upsampling blocks.
        shallow_dims: projected guidance widths per block.
        shallow_up_dims: transposed-conv widths per block.
        num_layers: upsampling blocks used (0 .. len(decoder_dims)).
        inter_index: indices into ``inter_feats`` of the guidance features.
        loss_decode: dict(type='CategoryBCELoss') by default.

    Shapes:
        inputs: :class:`~dcp_mm.structures.HeadInputs` with cost_embed
        (B, K, d, h, w) and ``inter_feats`` [(B, C_v, h, w)] x 2.
        returns: (B, K, 4h, 4w) logits.

    Raises:
        ValueError: inconsistent sizes; at build time
            :class:`~dcp_mm.structures.CompositionError` without ViT block
            features or without a neck.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.build_shallow()
        self.up_blocks = nn.ModuleList(
            [self.up_block(i) for i in range(self.num_layers)])
        self.conv_seg = nn.Conv2d(self.widths[-1], 1, 3, padding=1)

    def check_inputs(self, image: CLIPFeatureSpec,
                     cost: Optional[CostFeatureSpec], neck: str) -> None:
        """Needs d-channel cost features and the ViT block features."""
        image.require_layout(self.part, 'grid')
        for i in self.inter_index:
            image.require_channels(
                self.part, i, self.clip_channels,
                'leave decode_head.clip_channels to the segmentor')
        require_cost_features(self.part, cost, self.in_channels, None, neck)

    def forward(self, inputs: HeadInputs) -> Tensor:
        """:class:`HeadInputs` -> (B, K, h * 2^L, w * 2^L) logits."""
        b, k, _, h, w = inputs.cost.cost_embed.shape
        # (B, K, d, h, w) -> (B*K, d, h, w)
        x = inputs.cost.cost_embed.flatten(0, 1)
        for i in range(self.num_layers):
            x = self.up_blocks[i](x, [self.layer_guidance(inputs, i, k)])
        # (B*K, 1, H', W') -> (B, K, H', W')
        return self.conv_seg(x).reshape(b, k, *x.shape[-2:])
