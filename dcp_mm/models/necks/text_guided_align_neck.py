"""Text-guided Alignment (TGA), DCP-CLIP Sec. III-B, Eq. 6-12 (Fig. 4)."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange, repeat
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from timm.layers import Mlp
from torch import Tensor

from ..layers.arg_checks import check_positive_ints
from ..layers.dual_prompt_cost import (check_fusion, cost_channels,
                                       dual_prompt_cost_volume)
from ..layers.structures import CategorySelection, CostFeatures


@MODELS.register_module()
class DCPTextGuidedAlignNeck(BaseModule):
    """Build the cost volume of the selected categories and align it with text.

    Eq. 6: ``C_0 = cos(F_p, E_sel)`` per template (B, K, P, h, w), embedded by
    a 7x7 conv P -> d (CAT-Seg) to ``F_cv`` (B, K, d, h, w).
    Eq. 7: textual guidance ``G = Linear([E_sel ; p ; s_c])`` (B, K, d_g),
    E_sel template-averaged and renormalised, p a learnable prompt shared by
    all categories (``use_prompt``), s_c the category's [CLS] logit from
    Eq. 1 (``use_cls_score``) - Table V.
    Eq. 8-10, cross-attention branch (``with_ca``): queries from the patch
    embeddings F_p, keys/values from G (padded categories masked),
    ``F'_p = LN(F_p + CA)``, ``F''_p = LN(F'_p + MLP(F'_p))``.
    Eq. 11-12, self-attention branch (``with_sa``): F''_p (or F_p without CA)
    projected to d', repeated over K and concatenated with F_cv; per category,
    self-attention over the h*w positions with Q/K/V linear maps of the
    concatenation, ``F'_cv = LN(F_cv + SA)``, ``F'_cv = LN(F'_cv + MLP)``.
    Table IV: CA and SA are independent switches; both off passes F_cv
    through. With CA but no SA (a row the paper does not spell out), F''_p
    reaches the cost feature through the same concatenation with a
    per-position linear map instead of attention:
    ``F'_cv = LN(F_cv + Linear([F_cv ; proj(F''_p)]))``.

    Args:
        embed_dims: CLIP joint embedding dim D.
        num_templates: P (injected by the segmentor from the text encoder).
        cost_dims: d, channels of the cost feature. Default 128 (CAT-Seg).
        guidance_dims: d_g, width of G. Default 128.
        prompt_dims: width of the learnable prompt p. Default 64.
        sa_patch_dims: d', width of the projected patch feature in SA.
        num_heads: heads of both attentions.
        with_ca, with_sa, use_prompt, use_cls_score: ablation switches.
        cls_score_scale: s_c is divided by this (CLIP's logit scale 100) so it
            enters the linear map in [-1, 1].
        fusion: cost of text and visual prompts (DPSeg, Zhao et al. CVPR
            2025, Table 2; :func:`~dcp_mm.models.layers.dual_prompt_cost.
            dual_prompt_cost_volume`): ``'text_only'`` (default, the
            method's own cost), ``'avg_embed'`` (DPSeg), ``'avg_cost'``,
            ``'concat_cost'`` (2P cost channels), ``'visual_only'``. Other
            than ``'text_only'`` needs ``visual_embeds`` (B, K, P, D) and
            ``has_visual`` (B, K) at forward (DPSegEncoderDecoder).

    Shapes:
        dense_embeds: (B, D, h, w) F_p, joint space, not normalised.
        text_embeds: (B, K, P, D) selected categories, L2-normalised.
        selection: :class:`CategorySelection` (valid mask (B, K), cls logits
        (B, T)).
        returns: :class:`CostFeatures` (cost_embed (B, K, d, h, w),
        cost_volume C_0 (B, K, P, h, w)).
    """

    def __init__(self,
                 *,
                 embed_dims: int,
                 num_templates: int,
                 cost_dims: int = 128,
                 guidance_dims: int = 128,
                 prompt_dims: int = 64,
                 sa_patch_dims: int = 64,
                 num_heads: int = 4,
                 mlp_ratio: float = 2.0,
                 with_ca: bool = True,
                 with_sa: bool = True,
                 use_prompt: bool = True,
                 use_cls_score: bool = True,
                 cls_score_scale: float = 100.0,
                 fusion: str = 'text_only',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fusion = check_fusion(fusion)
        check_positive_ints(
            embed_dims=embed_dims,
            num_templates=num_templates,
            cost_dims=cost_dims,
            num_heads=num_heads)
        if cost_dims % num_heads or embed_dims % num_heads:
            raise ValueError(f'cost_dims ({cost_dims}) and embed_dims '
                             f'({embed_dims}) must divide by num_heads '
                             f'({num_heads})')
        self.with_ca, self.with_sa = with_ca, with_sa
        self.use_prompt, self.use_cls_score = use_prompt, use_cls_score
        self.cls_score_scale = cls_score_scale
        self.num_heads = num_heads
        self.embed_dims = embed_dims
        self.num_templates = num_templates
        self.cost_embed = nn.Conv2d(
            cost_channels(fusion, num_templates), cost_dims, 7, padding=3)
        if with_ca:
            in_g = embed_dims + (prompt_dims if use_prompt else
                                 0) + (1 if use_cls_score else 0)
            self.prompt = (
                nn.Parameter(torch.randn(prompt_dims) *
                             0.02) if use_prompt else None)
            self.guidance_proj = nn.Linear(in_g, guidance_dims)
            self.cross_attn = nn.MultiheadAttention(
                embed_dims,
                num_heads,
                kdim=guidance_dims,
                vdim=guidance_dims,
                batch_first=True)
            self.ca_norm1 = nn.LayerNorm(embed_dims)
            self.ca_mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio))
            self.ca_norm2 = nn.LayerNorm(embed_dims)
        if with_sa or with_ca:
            self.sa_patch_proj = nn.Linear(embed_dims, sa_patch_dims)
        if with_ca and not with_sa:
            self.fuse = nn.Linear(cost_dims + sa_patch_dims, cost_dims)
            self.fuse_norm = nn.LayerNorm(cost_dims)
        if with_sa:
            self.sa_qkv = nn.Linear(cost_dims + sa_patch_dims, 3 * cost_dims)
            self.sa_proj = nn.Linear(cost_dims, cost_dims)
            self.sa_norm1 = nn.LayerNorm(cost_dims)
            self.sa_mlp = Mlp(cost_dims, int(cost_dims * mlp_ratio))
            self.sa_norm2 = nn.LayerNorm(cost_dims)

    @property
    def requires(self) -> Dict[str, Optional[int]]:
        """Tensor contract (:mod:`~dcp_mm.models.layers.tensor_contract`):
        D-dim dense and text embeddings, the selection (and its [CLS]
        logits for Eq. 7's s_c)."""
        out = dict(
            dense_embeds=self.embed_dims,
            text_embeds=self.embed_dims,
            selection=None)
        if self.with_ca and self.use_cls_score:
            out['cls_logits'] = None
        return out

    @property
    def provides(self) -> Dict[str, Tuple[int, int]]:
        """Tensor contract: cost features of (d, P) channels."""
        return dict(
            cost_features=(self.cost_embed.out_channels,
                           self.cost_embed.in_channels))

    def text_guidance(self, text_embeds: Tensor,
                      selection: CategorySelection) -> Tensor:
        """Eq. 7: (B, K, P, D) -> G (B, K, d_g)."""
        parts = [F.normalize(text_embeds.mean(dim=2), dim=-1)]
        b, k = text_embeds.shape[:2]
        if self.use_prompt:
            parts.append(self.prompt.expand(b, k, -1))
        if self.use_cls_score:
            if selection.cls_logits is None:
                raise ValueError('use_cls_score=True needs the [CLS] logits '
                                 'of the selector (selection.cls_logits)')
            s_c = selection.cls_logits.gather(1, selection.indices)
            parts.append((s_c / self.cls_score_scale)[..., None])
        return self.guidance_proj(torch.cat(parts, dim=-1))

    def forward(self,
                dense_embeds: Tensor,
                text_embeds: Tensor,
                selection: CategorySelection,
                visual_embeds: Optional[Tensor] = None,
                has_visual: Optional[Tensor] = None) -> CostFeatures:
        b, _, h, w = dense_embeds.shape
        k = text_embeds.shape[1]
        if text_embeds.shape[2] != self.num_templates:
            raise ValueError(f'built for P={self.num_templates} templates, '
                             f'got P={text_embeds.shape[2]}')
        cost_volume = dual_prompt_cost_volume(dense_embeds, text_embeds,
                                              visual_embeds, has_visual,
                                              self.fusion)
        # (B, K, P, h, w) -> (B*K, P, h, w)
        cost = self.cost_embed(cost_volume.flatten(0, 1))
        # (B*K, d, h, w) -> (B*K, h*w, d)
        cost = rearrange(cost, 'bk c h w -> bk (h w) c')
        # (B, D, h, w) -> (B, N, D)
        patches = rearrange(dense_embeds, 'b d h w -> b (h w) d')
        if self.with_ca:
            g = self.text_guidance(text_embeds, selection)
            ca, _ = self.cross_attn(
                patches,
                g,
                g,
                key_padding_mask=~selection.valid,
                need_weights=False)
            patches = self.ca_norm1(patches + ca)
            patches = self.ca_norm2(patches + self.ca_mlp(patches))
        if self.with_sa or self.with_ca:
            # (B, N, D) -> (B*K, N, d')
            pf = repeat(self.sa_patch_proj(patches), 'b n c -> (b k) n c', k=k)
        if self.with_ca and not self.with_sa:
            cost = self.fuse_norm(cost + self.fuse(torch.cat([cost, pf], -1)))
        if self.with_sa:
            qkv = self.sa_qkv(torch.cat([cost, pf], dim=-1))
            # (B*K, N, 3*d) -> 3 x (B*K, heads, N, d/heads)
            q, kk, v = rearrange(
                qkv,
                'bk n (three nh c) -> three bk nh n c',
                three=3,
                nh=self.num_heads)
            sa = F.scaled_dot_product_attention(q, kk, v)
            sa = self.sa_proj(rearrange(sa, 'bk nh n c -> bk n (nh c)'))
            cost = self.sa_norm1(cost + sa)
            cost = self.sa_norm2(cost + self.sa_mlp(cost))
        # (B*K, h*w, d) -> (B, K, d, h, w)
        cost = rearrange(cost, '(b k) (h w) c -> b k c h w', b=b, h=h)
        return CostFeatures(cost_embed=cost, cost_volume=cost_volume)
