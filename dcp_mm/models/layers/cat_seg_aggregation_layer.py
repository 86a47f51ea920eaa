"""One CAT-Seg aggregation layer: spatial then class aggregation.

Official ``AggregatorLayer`` (CAT-Seg cat_seg/modeling/transformer/model.py): a
``SwinTransformerBlockWrapper`` (two Swin blocks, regular then shifted
windows, appearance guidance LayerNorm'd once and concatenated into Q/K of
both) followed by a ``ClassTransformerLayer`` (linear attention across
categories with the text guidance in Q/K).
"""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from .class_linear_attention import ClassTransformerLayer, PoolSize
from .guided_swin_block import GuidedSwinBlock


class CATSegAggregationLayer(nn.Module):
    """Spatial aggregation (2 guided Swin blocks) + class aggregation.

    The spatial blocks are :class:`GuidedSwinBlock` (shared with DCP-CLIP's
    spatial enhance). CAT-Seg normalises the appearance guidance ONCE per
    layer with one LayerNorm (``swin_block.guidance_norm``) and feeds the
    same normalised guidance to both blocks, whereas each
    :class:`GuidedSwinBlock` owns a guidance LayerNorm. To keep CAT-Seg's
    parameters and computation, the blocks' own guidance norms are replaced
    by ``nn.Identity`` and this layer's ``guidance_norm`` is applied once.

    Args:
        dim: channels C of the cost feature (128).
        appearance_dim: channels G_a of the appearance guidance (128).
        text_guidance_dim: channels G_t of the text guidance (128).
        num_heads: heads of both attentions (4).
        window_size: Swin window (12); the second block shifts by half.
        pooling_size, test_pooling_size, pad_len: see
            :class:`ClassTransformerLayer`.

    Shapes:
        x: (B, K, C, h, w); appearance: (B, G_a, h, w); text_guidance:
        (B, K, G_t); valid: (B, K) bool or None; returns (B, K, C, h, w).
    """

    def __init__(self,
                 dim: int = 128,
                 appearance_dim: int = 128,
                 text_guidance_dim: int = 128,
                 num_heads: int = 4,
                 window_size: int = 12,
                 pooling_size: PoolSize = (2, 2),
                 test_pooling_size: Optional[PoolSize] = None,
                 pad_len: int = 256) -> None:
        super().__init__()
        if appearance_dim < 1:
            raise ValueError('CAT-Seg aggregation needs appearance guidance: '
                             f'appearance_dim must be >= 1, got '
                             f'{appearance_dim}')
        self.swin_blocks = nn.ModuleList([
            # official WindowAttention: no relative-position bias
            GuidedSwinBlock(
                dim,
                appearance_dim,
                num_heads,
                window_size,
                shift,
                rel_pos_bias=False) for shift in (0, window_size // 2)
        ])
        for block in self.swin_blocks:
            # one shared guidance LayerNorm per layer (CAT-Seg), below
            block.guidance_norm = nn.Identity()
        self.guidance_norm = nn.LayerNorm(appearance_dim)
        self.class_attention = ClassTransformerLayer(
            dim,
            text_guidance_dim,
            num_heads,
            pooling_size=pooling_size,
            test_pooling_size=test_pooling_size,
            pad_len=pad_len)

    def forward(self,
                x: Tensor,
                appearance: Tensor,
                text_guidance: Optional[Tensor],
                valid: Optional[Tensor] = None) -> Tensor:
        b, k, c, h, w = x.shape
        # LayerNorm over channels per pixel: (B, G, h, w) -> (B, h, w, G)
        g = self.guidance_norm(appearance.permute(0, 2, 3, 1))
        # (B, h, w, G) -> (B*K, G, h, w), repeated per category
        g = g.permute(0, 3, 1, 2).repeat_interleave(k, dim=0)
        y = x.flatten(0, 1)  # (B, K, C, h, w) -> (B*K, C, h, w)
        for block in self.swin_blocks:
            y = block(y, g)
        y = y.reshape(b, k, c, h, w)
        return self.class_attention(y, text_guidance, valid)
