"""One stage of SED's gradual fusion decoder (official ``Up``).

SED sed/modeling/transformer/model.py: ConvNeXt block (kernel 9, layer scale
1.0) for
spatial fusion, linear attention across categories (no guidance, no padding
tokens), then ``ConvTranspose x2`` to ``C - G``, concatenation with the
projected backbone feature (G channels) and the upsampled cost volume (G_c
channels), and a double conv (3x3 conv without bias, GroupNorm(out // 16),
ReLU, twice).
"""
from typing import Optional

import torch.nn as nn
from timm.models.convnext import ConvNeXtBlock
from torch import Tensor

from .class_linear_attention import PoolSize
from .upsample_block import class_attention_and_fuse


class GradualFusionBlock(nn.Module):
    """SED decoder stage: spatial fusion, class fusion, upsample and fuse.

    The spatial fusion is timm's ``ConvNeXtBlock`` (V1: depthwise conv, LN
    eps 1e-6, Linear 4x, exact GELU, Linear, layer scale, residual), the
    same ops as SED's ``convnext.Block``, returned as contiguous NCHW as the
    official block does. The class fusion is
    :class:`ClassTransformerLayer` (shared with CAT-Seg). Upsampling and
    fusion reuse :class:`UpsampleBlock` (CAT-Seg's Up/DoubleConv); SED's
    transposed conv maps C -> C - G while the double conv sees
    (C - G) + G + G_c channels, which ``UpsampleBlock`` (in = up + guidance)
    expresses as ``UpsampleBlock(C + G_c, out, G + G_c)`` with its
    transposed conv replaced by ``ConvTranspose2d(C, C - G)``.

    Args:
        in_channels: C.
        out_channels: output channels.
        guidance_channels: G, projected backbone feature channels.
        cost_guidance_channels: G_c, upsampled cost-volume channels.
        kernel_size: ConvNeXt depthwise kernel (9).
        num_heads: class-attention heads (4).
        pooling_size, test_pooling_size: class-attention pooling.
        layer_scale_init: ConvNeXt layer-scale init (SED's ``Up``: 1.0).

    Shapes:
        x: (B*K, C, H, W); guidance: (B, G, 2H, 2W) (shared by the K
        categories); cost_guidance: (B*K, G_c, 2H, 2W); valid: (B, K) bool
        or None; returns (B*K, out, 2H, 2W).

    Raises:
        ValueError: ``guidance_channels >= in_channels``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 guidance_channels: int,
                 cost_guidance_channels: int,
                 kernel_size: int = 9,
                 num_heads: int = 4,
                 pooling_size: PoolSize = (2, 2),
                 test_pooling_size: Optional[PoolSize] = None,
                 layer_scale_init: float = 1.0) -> None:
        super().__init__()
        self.cnext = ConvNeXtBlock(
            in_channels,
            kernel_size=kernel_size,
            ls_init_value=layer_scale_init)
        self.attention, self.fuse = class_attention_and_fuse(
            in_channels, out_channels, guidance_channels,
            cost_guidance_channels, num_heads, pooling_size, test_pooling_size)

    def forward(self,
                x: Tensor,
                guidance: Tensor,
                cost_guidance: Tensor,
                valid: Optional[Tensor] = None) -> Tensor:
        bk, c, h, w = x.shape
        b = guidance.shape[0]
        if bk % b:
            raise ValueError(f'x has {bk} maps, not a multiple of the batch '
                             f'size {b} of the guidance')
        k = bk // b
        # timm's block permutes back from NHWC without a copy (channels-last
        # strides); the official block returns contiguous NCHW, and the
        # memory layout changes the rounding of the later bilinear
        # interpolation (~2e-6): copy to contiguous NCHW like the official
        x = self.cnext(x).contiguous()
        # (B*K, C, H, W) <-> (B, K, C, H, W)
        x = self.attention(x.reshape(b, k, c, h, w), None, valid).flatten(0, 1)
        # (B, G, 2H, 2W) -> (B*K, G, 2H, 2W)
        g = guidance.repeat_interleave(k, dim=0)
        return self.fuse(x, [g, cost_guidance])
