"""U-Net-like upsampling block shared by the cost-based decoders.

``ConvTranspose2d(x2)``, concatenation with guidance maps, then two
``3x3 conv (no bias) -> GroupNorm -> ReLU`` (CAT-Seg's ``Up``/``DoubleConv``,
DCP-CLIP Eq. 15-16).
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch import Tensor

from .class_linear_attention import ClassTransformerLayer, PoolSize


class UpsampleBlock(nn.Module):
    """Upsample x2 and fuse guidance.

    Args:
        in_channels: channels of x.
        out_channels: channels of the output.
        guidance_channels: channels of the concatenated guidance (sum over
            the maps passed to forward; 0 for none).
        num_groups: GroupNorm groups; default out_channels // 16 (CAT-Seg).

    Shapes:
        x: (N, C_in, H, W); guidance: maps (N, G_i, 2H, 2W);
        returns (N, C_out, 2H, 2W).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 guidance_channels: int = 0,
                 num_groups: int = 0) -> None:
        super().__init__()
        up_channels = in_channels - guidance_channels
        if up_channels <= 0:
            up_channels = in_channels // 2
        self.guidance_channels = guidance_channels
        self.up = nn.ConvTranspose2d(
            in_channels, up_channels, kernel_size=2, stride=2)
        groups = num_groups or max(1, out_channels // 16)
        norm = dict(type='GN', num_groups=groups, requires_grad=True)
        self.convs = nn.Sequential(
            ConvModule(
                up_channels + guidance_channels,
                out_channels,
                3,
                padding=1,
                bias=False,
                norm_cfg=norm),
            ConvModule(
                out_channels,
                out_channels,
                3,
                padding=1,
                bias=False,
                norm_cfg=norm))

    def forward(self, x: Tensor, guidance: Sequence[Tensor] = ()) -> Tensor:
        x = self.up(x)
        got = sum(g.shape[1] for g in guidance)
        if got != self.guidance_channels:
            raise ValueError(f'expected {self.guidance_channels} guidance '
                             f'channels, got {got}')
        if guidance:
            x = torch.cat([x, *guidance], dim=1)
        return self.convs(x)


def class_attention_and_fuse(
    in_channels: int, out_channels: int, guidance_channels: int,
    cost_guidance_channels: int, num_heads: int, pooling_size: PoolSize,
    test_pooling_size: Optional[PoolSize]
) -> Tuple[ClassTransformerLayer, 'UpsampleBlock']:
    """The two parts every SED-style decoder stage shares (SED's
    ``GradualFusionBlock``, DPSeg's cost-guided block): the linear class
    attention over the K categories of each pixel, and the x2 upsampling
    ``ConvTranspose2d(C, C - G)`` + concat(guidance, cost guidance) +
    double conv (:class:`UpsampleBlock`).

    Returns:
        ``(attention, fuse)``.

    Raises:
        ValueError: ``guidance_channels >= in_channels`` (the transposed
            conv maps C -> C - G).
    """
    up_channels = in_channels - guidance_channels
    if up_channels < 1:
        raise ValueError(
            f'guidance_channels ({guidance_channels}) must be smaller than '
            f'in_channels ({in_channels}): the transposed conv maps C -> '
            'C - G (SED).')
    attention = ClassTransformerLayer(
        in_channels,
        0,
        num_heads,
        pooling_size=pooling_size,
        test_pooling_size=test_pooling_size,
        pad_len=0)
    fuse = UpsampleBlock(in_channels + cost_guidance_channels, out_channels,
                         guidance_channels + cost_guidance_channels)
    fuse.up = nn.ConvTranspose2d(
        in_channels, up_channels, kernel_size=2, stride=2)
    return attention, fuse
