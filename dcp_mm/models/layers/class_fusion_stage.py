"""Base of the SED-style decoder stages (SED's :class:`GradualFusionBlock`,
DPSeg's :class:`CostGuidedDecoderBlock`): spatial fusion per category map,
linear class attention over the K categories of each pixel, then x2
upsampling and fusion with the stage's guidance."""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from .class_linear_attention import ClassTransformerLayer, PoolSize
from .upsample_block import UpsampleBlock


class ClassFusionStage(nn.Module):
    """Spatial fusion (the subclass's :meth:`spatial_fusion`), class
    attention (``attention``), upsample and fuse guidance (``fuse``).

    Subclasses build their spatial block, then :meth:`build_class_fusion`
    (in this order: the parameter order of the checkpoints), and implement
    :meth:`spatial_fusion`.

    Shapes:
        x: (B*K, C, H, W); guidance: (B, G, 2H, 2W) (shared by the K
        categories); cost_guidance: (B*K, G_c, 2H, 2W), None when G_c = 0;
        valid: (B, K) bool or None; returns (B*K, out, 2H, 2W).
    """

    def build_class_fusion(self, in_channels: int, out_channels: int,
                           guidance_channels: int, cost_guidance_channels: int,
                           num_heads: int, pooling_size: PoolSize,
                           test_pooling_size: Optional[PoolSize]) -> None:
        """Build the linear class attention over the K categories
        (:class:`ClassTransformerLayer`, no guidance, no padding tokens)
        and the x2 upsampling ``ConvTranspose2d(C, C - G)`` + concat(G
        guidance, G_c cost guidance) + double conv: SED's transposed conv
        maps C -> C - G while the double conv sees (C - G) + G + G_c
        channels, which :class:`UpsampleBlock` (in = up + guidance)
        expresses as ``UpsampleBlock(C + G_c, out, G + G_c)`` with its
        transposed conv replaced.

        Raises:
            ValueError: ``guidance_channels >= in_channels`` (the transposed
                conv maps C -> C - G).
        """
        up_channels = in_channels - guidance_channels
        if up_channels < 1:
            raise ValueError(
                f'guidance_channels ({guidance_channels}) must be smaller '
                f'than in_channels ({in_channels}): the transposed conv maps '
                'C -> C - G (SED).')
        self.cost_guidance_channels = cost_guidance_channels
        self.attention = ClassTransformerLayer(
            in_channels,
            0,
            num_heads,
            pooling_size=pooling_size,
            test_pooling_size=test_pooling_size,
            pad_len=0)
        self.fuse = UpsampleBlock(in_channels + cost_guidance_channels,
                                  out_channels,
                                  guidance_channels + cost_guidance_channels)
        self.fuse.up = nn.ConvTranspose2d(
            in_channels, up_channels, kernel_size=2, stride=2)

    def spatial_fusion(self, x: Tensor) -> Tensor:
        """(B*K, C, H, W) -> (B*K, C, H, W), per category map."""
        raise NotImplementedError

    def forward(self,
                x: Tensor,
                guidance: Tensor,
                cost_guidance: Optional[Tensor] = None,
                valid: Optional[Tensor] = None) -> Tensor:
        """See the class's Shapes.

        Raises:
            ValueError: x not B*K maps, cost guidance given to a stage
                built without or missing for one built with, guidance
                channels other than built for.
        """
        bk, c, h, w = x.shape
        b = guidance.shape[0]
        if bk % b:
            raise ValueError(f'x has {bk} maps, not a multiple of the batch '
                             f'size {b} of the guidance')
        if (cost_guidance is None) != (self.cost_guidance_channels == 0):
            raise ValueError(
                f'built for {self.cost_guidance_channels} cost-guidance '
                f'channels, got '
                f'{None if cost_guidance is None else cost_guidance.shape}')
        k = bk // b
        x = self.spatial_fusion(x)
        # (B*K, C, H, W) <-> (B, K, C, H, W)
        x = self.attention(x.reshape(b, k, c, h, w), None, valid).flatten(0, 1)
        # (B, G, 2H, 2W) -> (B*K, G, 2H, 2W)
        maps = [guidance.repeat_interleave(k, dim=0)]
        if cost_guidance is not None:
            maps.append(cost_guidance)
        return self.fuse(x, maps)
