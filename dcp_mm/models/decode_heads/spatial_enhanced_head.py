"""Spatial Enhanced Decoder, DCP-CLIP Sec. III-C, Eq. 13-16 (Fig. 5).

Named ``DCPSpatialEnhancedHead`` so that it is not confused with the SED
baseline (Xie et al., CVPR 2024), whose decoder is a different model.
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, SampleList
from torch import Tensor

from ..layers.guided_swin_block import GuidedSwinBlock
from ..layers.structures import CategorySelection, CostFeatures
from ..layers.upsample_block import UpsampleBlock
from ..losses.category_bce_loss import constant_prediction_bce


@MODELS.register_module()
class DCPSpatialEnhancedHead(BaseDecodeHead):
    """Coarse-to-fine decoder over the cost features of K categories.

    Each of ``num_layers`` layers (L = 2 in the paper):

    * spatial enhance (Eq. 13-14, ``spatial_enhance``): two Swin blocks
      (regular and shifted windows) over every category's map; Q and K are
      linear maps of ``[F_cv ; F_s ; A]``, V of F_cv alone
      (:class:`GuidedSwinBlock`). F_s is the deepest shallow CLIP feature
      projected to ``se_shallow_dims``; A is the last CLIP layer's attention,
      (B, N, N): each patch's attention row, seen as an h x w map, is
      average-pooled to ``attn_pool_size`` x ``attn_pool_size`` and linearly
      projected to ``se_attn_dims`` channels (grid-size independent). Both are
      bilinearly upsampled in later layers.
    * upsampling (Eq. 15-16): ConvTranspose x2, concatenation of the shallow
      encoder feature of that resolution (repeated over K, ``fuse_shallow``)
      and of the upsampled initial cost volume C_0 (``fuse_cost``), then two
      conv-GN-ReLU (:class:`UpsampleBlock`).

    Shallow features follow CAT-Seg: the two intermediate CLIP layers
    (``inter_index`` of ``inter_feats``) are upsampled by transposed convs to
    x2 and x4 of the patch grid and projected to ``shallow_dims``; C_0 is
    upsampled by chained transposed convs (P -> ``cost_guidance_dims``), as
    SED does. A 3x3 conv gives one logit map per category. Table VI:
    (a) ``spatial_enhance``; (b) ``num_layers`` 0 / 1 / 2;
    (c) ``fuse_shallow``,
    ``fuse_cost``, ``fuse_attn``.

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
        se_shallow_dims, se_attn_dims: guidance widths in Q/K of the Swin
            blocks; attn_pool_size: pooled side of an attention row.
        num_heads, window_size: Swin settings (window 12 on a 24 grid).
        loss_decode: dict(type='CategoryBCELoss') by default.

    Shapes:
        inputs: dict with ``cost`` (:class:`CostFeatures`, cost_embed
        (B, K, d, h, w), cost_volume (B, K, P, h, w)), ``inter_feats`` (list
        of (B, C_v, h, w)), ``attn`` ((B, N, N) or None), ``selection``.
        returns: (B, K, h * 2^L, w * 2^L) logits.
    """

    # tensor contract (:mod:`~dcp_mm.models.layers.tensor_contract`): the
    # head-side alternative when a tensor is missing
    contract_hints: Dict[str, str] = dict(
        grid_feats='set decode_head.fuse_shallow=False',
        attn='set decode_head.fuse_attn=False')

    def __init__(self,
                 *,
                 in_channels: int = 128,
                 channels: int = 32,
                 clip_channels: int = 768,
                 num_templates: int = 80,
                 decoder_dims: Sequence[int] = (64, 32),
                 shallow_dims: Sequence[int] = (32, 16),
                 shallow_up_dims: Sequence[int] = (256, 128),
                 cost_guidance_dims: Sequence[int] = (32, 16),
                 num_layers: int = 2,
                 spatial_enhance: bool = True,
                 fuse_shallow: bool = True,
                 fuse_cost: bool = True,
                 fuse_attn: bool = True,
                 se_shallow_dims: int = 32,
                 se_attn_dims: int = 16,
                 attn_pool_size: int = 8,
                 num_heads: int = 4,
                 window_size: int = 12,
                 inter_index: Sequence[int] = (0, 1),
                 loss_decode: ConfigType = dict(type='CategoryBCELoss'),
                 **kwargs) -> None:
        n_dec = len(decoder_dims)
        if not 0 <= num_layers <= n_dec:
            raise ValueError(f'num_layers must be in [0, {n_dec}], got '
                             f'{num_layers}')
        for name, seq in dict(
                shallow_dims=shallow_dims,
                shallow_up_dims=shallow_up_dims,
                cost_guidance_dims=cost_guidance_dims).items():
            if len(seq) != n_dec:
                raise ValueError(f'{name} needs {n_dec} entries (one per '
                                 f'decoder layer), got {list(seq)}')
        if len(inter_index) != n_dec:
            raise ValueError(f'inter_index needs {n_dec} intermediate '
                             f'feature indices, got {list(inter_index)}')
        kwargs.setdefault('num_classes', 1)
        kwargs.setdefault('dropout_ratio', 0.0)
        kwargs.setdefault('threshold', 0.5)  # unused: one map per category
        super().__init__(
            in_channels=in_channels,
            channels=channels,
            loss_decode=loss_decode,
            **kwargs)
        self.num_layers = num_layers
        self.inter_index = list(inter_index)
        self.spatial_enhance = spatial_enhance
        self.fuse_shallow, self.fuse_cost = fuse_shallow, fuse_cost
        self.fuse_attn = fuse_attn
        self.attn_pool_size = attn_pool_size
        self.num_templates = num_templates
        widths = [in_channels] + list(decoder_dims[:num_layers])
        # shallow features: x2 and x4 of the patch grid (CAT-Seg)
        self.shallow_up = nn.ModuleList()
        self.shallow_proj = nn.ModuleList()
        self.cost_up = nn.ModuleList()
        self.se_blocks = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        cost_in = num_templates
        for i in range(num_layers):
            if fuse_shallow:
                s = 2**(i + 1)
                self.shallow_up.append(
                    nn.ConvTranspose2d(
                        clip_channels, shallow_up_dims[i], s, stride=s))
                self.shallow_proj.append(
                    nn.Sequential(
                        nn.Conv2d(
                            shallow_up_dims[i], shallow_dims[i], 3, padding=1),
                        nn.ReLU()))
            if fuse_cost:
                self.cost_up.append(
                    nn.Sequential(
                        nn.ConvTranspose2d(
                            cost_in, cost_guidance_dims[i], 2, stride=2),
                        nn.ReLU()))
                cost_in = cost_guidance_dims[i]
            g = (shallow_dims[i] if fuse_shallow else 0) + (
                cost_guidance_dims[i] if fuse_cost else 0)
            self.up_blocks.append(UpsampleBlock(widths[i], widths[i + 1], g))
        se_g = (se_shallow_dims if fuse_shallow else 0) + (
            se_attn_dims if fuse_attn else 0)
        if spatial_enhance:
            for i in range(max(num_layers, 1)):
                self.se_blocks.append(
                    nn.ModuleList([
                        GuidedSwinBlock(widths[i], se_g, num_heads,
                                        window_size, shift)
                        for shift in (0, window_size // 2)
                    ]))
        self.se_shallow = (
            nn.Conv2d(clip_channels, se_shallow_dims, 1)
            if spatial_enhance and fuse_shallow else None)
        self.se_attn = (
            nn.Linear(attn_pool_size**2, se_attn_dims)
            if spatial_enhance and fuse_attn else None)
        self.conv_seg = nn.Conv2d(widths[-1], 1, 3, padding=1)

    @property
    def requires(self) -> Dict[str, object]:
        """Tensor contract: cost features ((d, P); P only with
        ``fuse_cost``), the selection, the ViT block features at the patch
        grid (C_v = ``clip_channels``) with ``fuse_shallow`` and the
        attention map with ``spatial_enhance`` and ``fuse_attn``."""
        p = self.num_templates if len(self.cost_up) else None
        out = dict(cost_features=(self.in_channels, p), selection=None)
        shallow = list(self.shallow_up) + [
            m for m in (self.se_shallow, ) if m is not None
        ]
        if shallow:
            out['grid_feats'] = shallow[0].in_channels
        if self.se_attn is not None:
            out['attn'] = None
        return out

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

    def _se_guidance(self, inputs: Dict, h: int, w: int) -> Optional[Tensor]:
        """Q/K guidance of the spatial-enhance blocks at the patch grid."""
        parts = []
        if self.se_shallow is not None:
            parts.append(self.se_shallow(inputs['inter_feats'][-1]))
        if self.se_attn is not None:
            if inputs.get('attn') is None:
                raise ValueError(
                    'fuse_attn=True needs the last-layer attention: build the '
                    'backbone with with_attn=True')
            parts.append(self._attn_guidance(inputs['attn'], h, w))
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

    def forward(self, inputs: Dict) -> Tensor:
        cost: CostFeatures = inputs['cost']
        b, k, _, h, w = cost.cost_embed.shape
        # (B, K, d, h, w) -> (B*K, d, h, w)
        x = cost.cost_embed.flatten(0, 1)
        se_guidance = self._se_guidance(inputs, h, w)
        inter: List[Tensor] = [
            inputs['inter_feats'][i] for i in self.inter_index
        ]
        # (B, K, P, h, w) -> (B*K, P, h, w)
        cost_g = cost.cost_volume.flatten(0, 1)
        for i in range(self.num_layers):
            x = self._enhance(x, i, se_guidance, k)
            guidance = []
            if self.fuse_shallow:
                sg = self.shallow_proj[i](self.shallow_up[i](inter[i]))
                guidance.append(sg.repeat_interleave(k, dim=0))
            if self.fuse_cost:
                cost_g = self.cost_up[i](cost_g)
                guidance.append(cost_g)
            x = self.up_blocks[i](x, guidance)
        if self.num_layers == 0:
            x = self._enhance(x, 0, se_guidance, k)
        # (B*K, 1, H', W') -> (B, K, H', W')
        return self.conv_seg(x).reshape(b, k, *x.shape[-2:])

    def loss(self, inputs: Dict, batch_data_samples: SampleList,
             train_cfg: ConfigType) -> dict:
        """Per-pixel BCE over the selected categories (see loss_by_feat)."""
        return self.loss_by_feat(
            self.forward(inputs), batch_data_samples, inputs['selection'])

    def loss_by_feat(self, seg_logits: Tensor, batch_data_samples: SampleList,
                     selection: CategorySelection) -> dict:
        """Args: seg_logits (B, K, H', W'), upsampled to the label size."""
        seg_label = self._stack_batch_gt(batch_data_samples).squeeze(1)
        seg_logits = F.interpolate(
            seg_logits,
            seg_label.shape[-2:],
            mode='bilinear',
            align_corners=self.align_corners)
        losses = {}
        decode = (
            self.loss_decode if isinstance(self.loss_decode, nn.ModuleList)
            else [self.loss_decode])
        for loss_fn in decode:
            losses[loss_fn.loss_name] = losses.get(loss_fn.loss_name, 0) + \
                loss_fn(seg_logits, seg_label, selection,
                        ignore_index=self.ignore_index)
        losses['bce_baseline'] = constant_prediction_bce(  # 1/K level
            seg_label, selection, self.ignore_index)
        return losses

    def predict_by_feat(self, seg_logits: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        """Logits (B, K, H', W') resized to the padded input size."""
        size = batch_img_metas[0].get('pad_shape',
                                      batch_img_metas[0]['img_shape'])[:2]
        return F.interpolate(
            seg_logits,
            size,
            mode='bilinear',
            align_corners=self.align_corners)
