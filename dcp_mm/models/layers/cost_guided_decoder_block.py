"""One stage of DPSeg's cost-volume-guided decoder (CVGD).

DPSeg (Zhao et al., CVPR 2025), Sec. "cost-volume-guided decoder": each of
the 3 stages has a hybrid dilated convolution (dilations 1, 2, 4), an MLP,
self-attention across categories and a x2 transposed convolution; the
upsampled features are concatenated with that stage's guidance (visual cost
volume, image features). Reconstruction choices (the paper's text was not
available): the three dilated convolutions are depthwise 3x3 and
sequential (hybrid dilated convolution as in Wang et al., WACV 2018), and
with LayerNorm and a 4x MLP form one residual block laid out like a ConvNeXt
block; the class self-attention and the fusion after the transposed conv
are SED's (:class:`ClassTransformerLayer`, :class:`UpsampleBlock`), as in
:class:`GradualFusionBlock`.
"""
from typing import Optional, Sequence

import torch.nn as nn
from timm.layers import Mlp
from torch import Tensor

from .class_fusion_stage import ClassFusionStage
from .class_linear_attention import PoolSize


class HybridDilatedBlock(nn.Module):
    """Residual block: sequential depthwise 3x3 convs (dilations 1, 2, 4),
    LayerNorm, MLP (C -> 4C -> C, GELU).

    Args:
        channels: C.
        dilations: dilation of each depthwise conv.
        mlp_ratio: hidden width of the MLP / C.

    Shapes:
        x: (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self,
                 channels: int,
                 dilations: Sequence[int] = (1, 2, 4),
                 mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if not dilations or any(d < 1 for d in dilations):
            raise ValueError(f'dilations must be positive ints, got '
                             f'{dilations!r}')
        self.convs = nn.Sequential(*[
            nn.Conv2d(
                channels, channels, 3, padding=d, dilation=d, groups=channels)
            for d in dilations
        ])
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.mlp = Mlp(channels, int(channels * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        y = self.convs(x)
        # (N, C, H, W) -> (N, H, W, C) -> back
        y = self.mlp(self.norm(y.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        return x + y


class CostGuidedDecoderBlock(ClassFusionStage):
    """CVGD stage: HDC + MLP, class attention, ConvT x2, fuse guidance.

    Args:
        in_channels: C.
        out_channels: output channels.
        guidance_channels: G, projected image-feature channels (shared by
            the K categories).
        cost_guidance_channels: G_c, per-category guidance channels (the
            embedded visual cost, or the upsampled initial cost), 0 for
            none.
        num_heads: class-attention heads.
        pooling_size, test_pooling_size: class-attention pooling.
        dilations: of the hybrid dilated convolution.

    Shapes:
        x: (B*K, C, H, W); guidance: (B, G, 2H, 2W); cost_guidance:
        (B*K, G_c, 2H, 2W) or None when G_c = 0; valid: (B, K) bool or None;
        returns (B*K, out, 2H, 2W).

    Raises:
        ValueError: ``guidance_channels >= in_channels``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        guidance_channels: int,
        cost_guidance_channels: int,
        num_heads: int = 4,
        pooling_size: PoolSize = (2, 2),
        test_pooling_size: Optional[PoolSize] = None,
        dilations: Sequence[int] = (1, 2, 4)
    ) -> None:
        super().__init__()
        self.spatial = HybridDilatedBlock(in_channels, dilations)
        self.build_class_fusion(in_channels, out_channels, guidance_channels,
                                cost_guidance_channels, num_heads,
                                pooling_size, test_pooling_size)

    def spatial_fusion(self, x: Tensor) -> Tensor:
        """The hybrid dilated block (B*K, C, H, W)."""
        return self.spatial(x)
