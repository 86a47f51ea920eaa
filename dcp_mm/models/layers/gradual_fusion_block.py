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

from timm.models.convnext import ConvNeXtBlock
from torch import Tensor

from .class_fusion_stage import ClassFusionStage
from .class_linear_attention import PoolSize


class GradualFusionBlock(ClassFusionStage):
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
        self.build_class_fusion(in_channels, out_channels, guidance_channels,
                                cost_guidance_channels, num_heads,
                                pooling_size, test_pooling_size)

    def spatial_fusion(self, x: Tensor) -> Tensor:
        """SED's ConvNeXt block, contiguous NCHW (B*K, C, H, W)."""
        # timm's block permutes back from NHWC without a copy (channels-last
        # strides); the official block returns contiguous NCHW, and the
        # memory layout changes the rounding of the later bilinear
        # interpolation (~2e-6): copy to contiguous NCHW like the official
        return self.cnext(x).contiguous()
