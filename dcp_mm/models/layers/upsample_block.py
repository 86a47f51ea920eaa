"""U-Net-like upsampling block shared by the cost-based decoders.

``ConvTranspose2d(x2)``, concatenation with guidance maps, then two
``3x3 conv (no bias) -> GroupNorm -> ReLU`` (CAT-Seg's ``Up``/``DoubleConv``,
DCP-CLIP Eq. 15-16).
"""
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch import Tensor


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
