"""Spatial Enhanced Decoder, DCP-CLIP Sec. III-C, Eq. 13-16 (Fig. 5).

Named ``DCPSpatialEnhancedHead`` so that it is not confused with the SED
baseline (Xie et al., CVPR 2024), whose decoder is a different model.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from mmseg.registry import MODELS
from torch import Tensor

from dcp_mm.structures import (CLIPFeatureSpec, CostFeatureSpec, HeadInputs,
                               require_cost_features)
from ..layers.guided_swin_block import GuidedSwinBlock
from .shallow_guided_head import ShallowGuidedUpsampleHead


@MODELS.register_module()
class DCPSpatialEnhancedHead(ShallowGuidedUpsampleHead):
    """Coarse-to-fine decoder over the cost features of K categories.

    Each of ``num_layers`` layers (L = 2 in the paper):

    * spatial enhance (Eq. 13-14, ``spatial_enhance``): two Swin blocks
      (regular and shifted windows) over every category's map; Q and K are
      linear maps of ``[F_cv ; F_s ; A]``, V of F_cv alone
      (:class:`GuidedSwinBlock`). F_s is the deepest shallow CLIP feature
      projected to ``se_shallow_dims`` (``fuse_shallow_qk``); A is the last
      CLIP layer's attention (``fuse_attn``),
      (B, N, N): each patch's attention row, seen as an h x w map, is
      average-pooled to ``attn_pool_size`` x ``attn_pool_size`` and linearly
      projected to ``se_attn_dims`` channels (grid-size independent). Both are
      bilinearly upsampled in later layers.
    * upsampling (Eq. 15-16): ConvTranspose x2, concatenation of the shallow
      encoder feature of that resolution (repeated over K,
      ``fuse_shallow_up``) and of the upsampled initial cost volume C_0
      (``fuse_cost``), then two conv-GN-ReLU (:class:`UpsampleBlock`).

    Shallow features follow CAT-Seg: the two intermediate CLIP layers
    (``inter_index`` of ``inter_feats``) are upsampled by transposed convs to
    x2 and x4 of the patch grid and projected to ``shallow_dims``; C_0 is
    upsampled by chained transposed convs (P -> ``cost_guidance_dims``), as
    SED does. A 3x3 conv gives one logit map per category. Table VI:
    (a) ``spatial_enhance``; (b) ``num_layers`` 0 / 1 / 2;
    (c) feature fusion into the Swin Q/K: "none" = ``fuse_shallow_qk``,
    ``fuse_cost`` and ``fuse_attn`` False, while the U-Net path keeps its
    shallow features (``fuse_shallow_up`` True: "without fusion, the decoder
    relies solely on shallow features", Sec. IV-C); "+F_s" turns
    ``fuse_shallow_qk`` on, "+C_0" ``fuse_cost``, "+A" ``fuse_attn``.
    The two shallow switches are separate: F_s enters the Swin Q/K input
    (Eq. 13) and the upsampling concatenation (Eq. 15) independently.

    Args:
        in_channels: d, channels of the cost feature (the neck's cost_dims).
        channels: width of the last decoder layer (the default of
            ``decoder_dims[-1]``).
        clip_channels: C_v, width of the intermediate CLIP features.
        num_templates: P (injected by the segmentor).
        decoder_dims: output widths of the decoder layers.
        shallow_dims: shallow guidance widths per layer.
        cost_guidance_dims: C_0 guidance widths per layer.
        num_layers: decoder layers used (0 .. len(decoder_dims)).
        spatial_enhance: the Swin blocks of Eq. 13-14 (Table VI(a)).
        fuse_shallow_qk: F_s in the Swin blocks' Q/K input (Eq. 13).
        fuse_shallow_up: F_s concatenated in the upsampling layers (Eq. 15).
        fuse_cost: C_0 concatenated in the upsampling layers (Eq. 15).
        fuse_attn: A in the Swin blocks' Q/K input (Eq. 13).
        rel_pos_bias: Swin's relative-position bias in the window attention
            (default True: "the rest of the Swin Transformer's architecture
            and operations remain unchanged", Sec. III-C).
        se_shallow_dims, se_attn_dims: guidance widths in Q/K of the Swin
            blocks; attn_pool_size: pooled side of an attention row.
        num_heads, window_size: Swin settings (window 12 on a 24 grid).
        loss_decode: dict(type='CategoryBCELoss') by default.

    Shapes:
        inputs: :class:`~dcp_mm.structures.HeadInputs`: cost features
        (cost_embed (B, K, d, h, w), cost_volume (B, K, P, h, w)), the ViT
        block features ``inter_feats`` [(B, C_v, h, w)], the attention map
        (B, N, N) (with ``fuse_attn``) and the selection.
        returns: (B, K, h * 2^L, w * 2^L) logits.

    Raises:
        ValueError: inconsistent sizes; at build time
            :class:`~dcp_mm.structures.CompositionError` for a backbone
            without ViT grid features (with ``fuse_shallow_qk`` or
            ``fuse_shallow_up``) or the
            attention map (with ``fuse_attn``), or no neck.
    """

    all_layer_args = True  # one entry per decoder_dims entry, all used or not

    def __init__(self,
                 *,
                 cost_guidance_dims: Sequence[int] = (32, 16),
                 num_layers: int = 2,
                 spatial_enhance: bool = True,
                 fuse_shallow_qk: bool = True,
                 fuse_shallow_up: bool = True,
                 fuse_cost: bool = True,
                 fuse_attn: bool = True,
                 se_shallow_dims: int = 32,
                 se_attn_dims: int = 16,
                 attn_pool_size: int = 8,
                 num_heads: int = 4,
                 window_size: int = 12,
                 rel_pos_bias: bool = True,
                 **kwargs) -> None:
        if 'fuse_shallow' in kwargs:
            raise ValueError(
                'fuse_shallow was split into fuse_shallow_qk (F_s in the '
                'Swin Q/K, Eq. 13) and fuse_shallow_up (F_s in the upsampling '
                'layers, Eq. 15): set those instead')
        super().__init__(num_layers=num_layers, **kwargs)
        self.check_layer_args(cost_guidance_dims=cost_guidance_dims)
        self.spatial_enhance = spatial_enhance
        self.fuse_shallow_qk = fuse_shallow_qk
        self.fuse_cost = fuse_cost
        self.fuse_attn = fuse_attn
        self.attn_pool_size = attn_pool_size
        self.build_shallow(fuse_shallow_up)
        self.cost_up = nn.ModuleList()
        self.se_blocks = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        widths = self.widths
        cost_in = self.num_templates
        for i in range(num_layers):
            if fuse_cost:
                self.cost_up.append(
                    nn.Sequential(
                        nn.ConvTranspose2d(
                            cost_in, cost_guidance_dims[i], 2, stride=2),
                        nn.ReLU()))
                cost_in = cost_guidance_dims[i]
            self.up_blocks.append(
                self.up_block(i, cost_guidance_dims[i] if fuse_cost else 0))
        se_g = (se_shallow_dims if fuse_shallow_qk else 0) + (
            se_attn_dims if fuse_attn else 0)
        if spatial_enhance:
            for i in range(max(num_layers, 1)):
                self.se_blocks.append(
                    nn.ModuleList([
                        GuidedSwinBlock(
                            widths[i],
                            se_g,
                            num_heads,
                            window_size,
                            shift,
                            rel_pos_bias=rel_pos_bias)
                        for shift in (0, window_size // 2)
                    ]))
        self.se_shallow = (
            nn.Conv2d(self.clip_channels, se_shallow_dims, 1)
            if spatial_enhance and fuse_shallow_qk else None)
        self.se_attn = (
            nn.Linear(attn_pool_size**2, se_attn_dims)
            if spatial_enhance and fuse_attn else None)
        self.conv_seg = nn.Conv2d(widths[-1], 1, 3, padding=1)

    def check_inputs(self, image: CLIPFeatureSpec,
                     cost: Optional[CostFeatureSpec], neck: str) -> None:
        """Needs cost features (d, P; P only with ``fuse_cost``), the ViT
        block features at the patch grid (C_v = ``clip_channels``) with
        ``fuse_shallow_up`` or ``fuse_shallow_qk`` (and ``spatial_enhance``)
        and the attention map with ``spatial_enhance`` and ``fuse_attn``."""
        if len(self.shallow_up) or self.se_shallow is not None:
            fix = ('set decode_head.fuse_shallow_qk=False and '
                   'decode_head.fuse_shallow_up=False')
            image.require_layout(self.part, 'grid', fix)
            for i in self.inter_index[:len(self.shallow_up)] + [-1]:
                index = i % max(len(image.channels), 1)
                image.require_channels(
                    self.part, index, self.clip_channels,
                    'leave decode_head.clip_channels to the segmentor')
        if self.se_attn is not None:
            image.require_attention(self.part,
                                    'set decode_head.fuse_attn=False')
        p = self.num_templates if len(self.cost_up) else None
        require_cost_features(self.part, cost, self.in_channels, p, neck)

    def _attn_guidance(self, attn: Tensor, h: int, w: int) -> Tensor:
        """(B, N, N) attention rows -> (B, se_attn_dims, h, w)."""
        b, n, _ = attn.shape
        assert n == h * w, f'attention has {n} patches, grid is {h}x{w}'
        # (B, N, N) -> (B*N, 1, h, w): each row as a map over the grid
        rows = attn.reshape(b * n, 1, h, w)
        pooled = F.adaptive_avg_pool2d(rows, self.attn_pool_size)
        # (B*N, 1, s, s) -> (B, N, s*s)
        pooled = pooled.reshape(b, n, -1) * n  # mean attention ~ 1
        # (B, N, g) -> (B, g, h, w)
        return rearrange(self.se_attn(pooled), 'b (h w) g -> b g h w', h=h)

    def _se_guidance(self, inputs: HeadInputs, h: int,
                     w: int) -> Optional[Tensor]:
        """Q/K guidance of the spatial-enhance blocks at the patch grid."""
        parts = []
        if self.se_shallow is not None:
            parts.append(self.se_shallow(inputs.inter_feats[-1]))
        if self.se_attn is not None:
            if inputs.attn is None:
                raise ValueError(
                    'fuse_attn=True needs the last-layer attention: build the '
                    'backbone with with_attn=True')
            parts.append(self._attn_guidance(inputs.attn, h, w))
        return torch.cat(parts, dim=1) if parts else None

    def _enhance(self, x: Tensor, layer: int, guidance: Optional[Tensor],
                 k: int) -> Tensor:
        """Swin blocks of one layer on x (B*K, C, H, W)."""
        if not self.spatial_enhance:
            return x
        g = None
        if guidance is not None:
            if guidance.shape[-2:] != x.shape[-2:]:
                guidance = F.interpolate(
                    guidance,
                    x.shape[-2:],
                    mode='bilinear',
                    align_corners=False)
            # (B, G, H, W) -> (B*K, G, H, W)
            g = guidance.repeat_interleave(k, dim=0)
        for block in self.se_blocks[layer]:
            x = block(x, g)
        return x

    def forward(self, inputs: HeadInputs) -> Tensor:
        """:class:`HeadInputs` -> (B, K, h * 2^L, w * 2^L) logits."""
        cost = inputs.cost
        b, k, _, h, w = cost.cost_embed.shape
        # (B, K, d, h, w) -> (B*K, d, h, w)
        x = cost.cost_embed.flatten(0, 1)
        se_guidance = self._se_guidance(inputs, h, w)
        # (B, K, P, h, w) -> (B*K, P, h, w)
        cost_g = cost.cost_volume.flatten(0, 1)
        for i in range(self.num_layers):
            x = self._enhance(x, i, se_guidance, k)
            guidance = []
            if self.fuse_shallow_up:
                guidance.append(self.layer_guidance(inputs, i, k))
            if self.fuse_cost:
                cost_g = self.cost_up[i](cost_g)
                guidance.append(cost_g)
            x = self.up_blocks[i](x, guidance)
        if self.num_layers == 0:
            x = self._enhance(x, 0, se_guidance, k)
        # (B*K, 1, H', W') -> (B, K, H', W')
        return self.conv_seg(x).reshape(b, k, *x.shape[-2:])
