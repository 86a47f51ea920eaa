"""Text-guided Alignment (TGA), DCP-CLIP Sec. III-B, Eq. 6-12 (Fig. 4)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange, repeat
from mmseg.registry import MODELS
from timm.layers import Mlp
from torch import Tensor

from dcp_mm.structures import CategorySelection
from ..utils.arg_checks import check_positive_ints
from .base_cost_neck import BaseCostNeck


@MODELS.register_module()
class DCPTextGuidedAlignNeck(BaseCostNeck):
    """Build the cost volume of the selected categories and align it with text.

    Eq. 6: ``C_0 = cos(F_p, E_sel)`` per template (B, K, P, h, w), embedded by
    a 7x7 conv P -> d (CAT-Seg) to ``F_cv`` (B, K, d, h, w).
    Eq. 7: textual guidance ``G = Linear([E_sel ; s_c])`` (B, K, d_g),
    E_sel template-averaged and renormalised, s_c the category's [CLS] logit
    from Eq. 1 (``use_cls_score``), and the learnable prompt p (``use_prompt``)
    concatenated to G along the token axis: ``G' = [G ; p]`` (B, K + 1, d_g),
    one learnable key/value token shared by all images - Table V.

    Why a key/value token and not a feature concatenated before the Linear
    (the literal reading of Eq. 7): one shared vector concatenated before a
    Linear that has a bias is only an extra bias (``W_p p`` folds into it),
    so "w/o p" (Table V) would test nothing. As an extra key/value, p takes
    part in every patch's softmax: each patch can attend to it instead of to
    the categories (a learnable "none of these" value and normaliser), which
    is not an affine function of the no-prompt output. Learnable context
    tokens in the text prompts (CoOp, Zhou et al. IJCV 2022) would also add
    capacity, but they need a text-tower pass of all T x P prompts with
    gradient at every step and defeat the text-embedding cache; the token
    costs d_g parameters and one key per patch.

    Eq. 8-10, cross-attention branch (``with_ca``): queries from the patch
    embeddings F_p, keys/values from G' (padded categories masked, the
    prompt token never), ``F'_p = LN(F_p + CA)``, ``F''_p = LN(F'_p +
    MLP(F'_p))``.
    Eq. 11-12, self-attention branch (``with_sa``): F''_p (or F_p without CA)
    projected to d', repeated over K and concatenated with F_cv; per category,
    self-attention over the h*w positions with Q/K/V linear maps of the
    concatenation, ``F'_cv = LN(F_cv + SA)``, ``F'_cv = LN(F'_cv + MLP)``.
    Table IV ablates "the different attention branch" (Sec. IV-C): CA and
    SA are independent switches; both off passes F_cv through. Without SA's
    attention (the "CA" row) the rest of the branch stays as Eq. 11-12 write
    it: the concatenation ``[F_cv ; proj(F''_p)]`` (the only way F''_p
    reaches the cost feature in the paper), its value map W_v, the output
    projection, residual + LN + MLP; each position attends to itself only
    (the attention matrix is the identity), so no query / key maps exist.

    Args:
        embed_dims: CLIP joint embedding dim D.
        num_templates: P (injected by the segmentor from the text encoder).
        cost_dims: d, channels of the cost feature. Default 128 (CAT-Seg).
        guidance_dims: d_g, width of G and of the prompt token p. Default
            None = D: Eq. 7 maps the concatenation "into the dimensionally
            aligned textual guidance", aligned with the patch features.
        sa_patch_dims: d', width of the projected patch feature in SA.
        num_heads: heads of both attentions.
        mlp_ratio: hidden width of both MLPs relative to their input.
        with_ca, with_sa, use_prompt, use_cls_score: ablation switches.
        cls_score_scale: s_c is divided by this (CLIP's logit scale 100) so it
            enters the linear map in [-1, 1].
        synonym_max: the text embeddings hold one embedding per synonym
            (B, K, S, D) (``OpenCLIPTextEncoder(synonyms='max')``, the MAFT+
            recipe, github.com/jiaosiyu1999/MAFT-Plus): C_0 is the max over
            the S synonyms of the cosine cost, (B, K, 1, h, w); needs
            ``num_templates=1`` (what that text encoder reports).
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
                 guidance_dims: Optional[int] = None,
                 sa_patch_dims: int = 64,
                 num_heads: int = 4,
                 mlp_ratio: float = 2.0,
                 with_ca: bool = True,
                 with_sa: bool = True,
                 use_prompt: bool = True,
                 use_cls_score: bool = True,
                 cls_score_scale: float = 100.0,
                 synonym_max: bool = False,
                 fusion: str = 'text_only',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(embed_dims, num_templates, cost_dims, fusion,
                         init_cfg)
        check_positive_ints(num_heads=num_heads)
        if cost_dims % num_heads or embed_dims % num_heads:
            raise ValueError(f'cost_dims ({cost_dims}) and embed_dims '
                             f'({embed_dims}) must divide by num_heads '
                             f'({num_heads})')
        if synonym_max and num_templates != 1:
            raise ValueError(
                'synonym_max=True max-reduces the synonym axis to one cost '
                f'channel: num_templates must be 1, got {num_templates} (use '
                "OpenCLIPTextEncoder(synonyms='max'))")
        self.synonym_max = synonym_max  # the base reduces the synonyms
        self.with_ca, self.with_sa = with_ca, with_sa
        self.use_prompt, self.use_cls_score = use_prompt, use_cls_score
        self.cls_score_scale = cls_score_scale
        self.num_heads = num_heads
        if guidance_dims is None:
            guidance_dims = embed_dims
        check_positive_ints(guidance_dims=guidance_dims)
        if with_ca:
            in_g = embed_dims + (1 if use_cls_score else 0)
            # p: one learnable key/value token (1, d_g), truncated-normal
            # init with std 0.02 as ViT's learnable tokens
            self.prompt = (
                nn.Parameter(
                    nn.init.trunc_normal_(
                        torch.empty(1, guidance_dims), std=0.02))
                if use_prompt else None)
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
            # Q, K, V maps of Eq. 11-12 (V only without SA's attention)
            self.sa_qkv = nn.Linear(cost_dims + sa_patch_dims,
                                    (3 if with_sa else 1) * cost_dims)
            self.sa_proj = nn.Linear(cost_dims, cost_dims)
            self.sa_norm1 = nn.LayerNorm(cost_dims)
            self.sa_mlp = Mlp(cost_dims, int(cost_dims * mlp_ratio))
            self.sa_norm2 = nn.LayerNorm(cost_dims)

    def text_guidance(self, text_embeds: Tensor,
                      selection: CategorySelection) -> Tuple[Tensor, Tensor]:
        """Eq. 7: (B, K, P, D) -> keys/values G' (B, K (+1), d_g) and their
        padding mask (B, K (+1)), True = ignored; the prompt token, if any,
        is last and never masked."""
        parts = [F.normalize(text_embeds.mean(dim=2), dim=-1)]
        b = text_embeds.shape[0]
        if self.use_cls_score:
            if selection.cls_logits is None:
                raise ValueError('use_cls_score=True needs the [CLS] logits '
                                 'of the selector (selection.cls_logits)')
            s_c = selection.cls_logits.gather(1, selection.indices)
            parts.append((s_c / self.cls_score_scale)[..., None])
        g = self.guidance_proj(torch.cat(parts, dim=-1))
        pad = ~selection.valid
        if self.use_prompt:
            # (1, d_g) -> (B, 1, d_g), appended as token K + 1
            g = torch.cat([g, self.prompt.expand(b, 1, -1)], dim=1)
            pad = torch.cat([pad, pad.new_zeros(b, 1)], dim=1)
        return g, pad

    def aggregate(self, cost: Tensor, dense_embeds: Tensor,
                  text_embeds: Tensor, selection: CategorySelection) -> Tensor:
        """Eq. 7-12: (B*K, d, h, w) F_cv -> aligned (B, K, d, h, w)."""
        b, _, h, w = dense_embeds.shape
        k = text_embeds.shape[1]
        # (B*K, d, h, w) -> (B*K, h*w, d)
        cost = rearrange(cost, 'bk c h w -> bk (h w) c')
        # (B, D, h, w) -> (B, N, D)
        patches = rearrange(dense_embeds, 'b d h w -> b (h w) d')
        if self.with_ca:
            g, pad = self.text_guidance(text_embeds, selection)
            ca, _ = self.cross_attn(
                patches, g, g, key_padding_mask=pad, need_weights=False)
            patches = self.ca_norm1(patches + ca)
            patches = self.ca_norm2(patches + self.ca_mlp(patches))
        if self.with_sa or self.with_ca:
            # (B, N, D) -> (B*K, N, d')
            pf = repeat(self.sa_patch_proj(patches), 'b n c -> (b k) n c', k=k)
        if self.with_ca and not self.with_sa:
            # Eq. 11-12 without the attention: V of each position itself
            sa = self.sa_proj(self.sa_qkv(torch.cat([cost, pf], dim=-1)))
            cost = self.sa_norm1(cost + sa)
            cost = self.sa_norm2(cost + self.sa_mlp(cost))
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
        return cost
