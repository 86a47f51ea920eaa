"""CLIP ViT image encoder with a dense (per-patch) joint-space output."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from open_clip.transformer import PatchDropout, ResidualAttentionBlock
from torch import Tensor

from dcp_mm.structures import CLIPFeatureSpec, CLIPImageFeatures
from ..clip.builder import (FINETUNE_MODES, apply_finetune, build_clip_model,
                            split_qkv_projections)

DENSE_MODES = ('maskclip', 'plain')
DENSE_RESIDUALS = ('cls', 'token')


@MODELS.register_module()
class CLIPViTBackbone(BaseModule):
    """open_clip CLIP ViT image tower with MaskCLIP-style dense features.

    Blocks 1..L-1 run once; the last block then runs twice from the same
    input: the ordinary block gives the [CLS] embedding (and the attention
    map), and the dense path gives the patch embeddings:

    * ``dense_mode='maskclip'`` (CAT-Seg ``model_vpt.forward_dense``,
      CAT-Seg cat_seg/third_party/model_vpt.py): no attention mixing in the
      last block,
      ``v = out_proj(v_proj(ln_1(x)))``, ``v = r + ls_1(v)``,
      ``v = v + ls_2(mlp(ln_2(v)))``, then ``ln_post`` and ``proj``. The
      residual ``r`` is the block's input [CLS] token broadcast to every
      patch (``dense_residual='cls'``, the official CAT-Seg code, verified
      to match its checkpoints) or each patch's own input token
      (``'token'``, MaskCLIP / CAT-Seg's unused ``model.py``).
    * ``dense_mode='plain'``: the ordinary last-block patch tokens through
      ``ln_post`` and ``proj``.

    Position embeddings are resized to the input's patch grid on the fly
    (bicubic, ``align_corners=False``, [CLS] position kept, as CAT-Seg);
    resized copies are cached per grid while no gradient is needed.

    Args:
        model_name: open_clip ViT architecture (``'ViT-B-16'``,
            ``'ViT-L-14'``) or ``'dcp-tiny'`` (tests).
        pretrained: CLIP weights, see
            :func:`~dcp_mm.models.clip.builder.build_clip_model`
            (the segmentor injects ``model.pretrained``).
        dense_mode: ``'maskclip'`` or ``'plain'``.
        dense_residual: ``'cls'`` or ``'token'`` (maskclip mode only).
        out_indices: 1-based indices of the blocks whose outputs form
            ``inter_feats`` ((4, 8) for ViT-B, (8, 16) for ViT-L, CAT-Seg).
        with_attn: also return the last block's attention map.
        finetune: ``'frozen'``, ``'attention'`` (q/v projections, official
            CAT-Seg), ``'attention+pos'`` (plus the positional embedding) or
            ``'full'``; see :func:`~dcp_mm.models.clip.builder.
            apply_finetune`.
        quick_gelu: MLP activation; None -> QuickGELU (OpenAI CLIP).
        init_cfg: mmengine init config.

    Attributes:
        visual: the open_clip ``VisionTransformer`` (q/k/v weights split).
        embed_dims: D, joint embedding dim. width: C_v. patch_size: (p, p).

    Raises:
        ValueError: bad ``dense_mode``/``dense_residual``/``finetune``,
            ``out_indices`` outside [1, L], or an unsupported tower.
    """

    def __init__(self,
                 *,
                 model_name: str = 'ViT-B-16',
                 pretrained: Optional[str] = None,
                 dense_mode: str = 'maskclip',
                 dense_residual: str = 'cls',
                 out_indices: Sequence[int] = (4, 8),
                 with_attn: bool = False,
                 finetune: str = 'attention',
                 quick_gelu: Optional[bool] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if dense_mode not in DENSE_MODES:
            raise ValueError(f'dense_mode must be one of {DENSE_MODES}, got '
                             f'{dense_mode!r}')
        if dense_residual not in DENSE_RESIDUALS:
            raise ValueError(f'dense_residual must be one of '
                             f'{DENSE_RESIDUALS}, got {dense_residual!r}')
        if finetune not in FINETUNE_MODES:
            raise ValueError(f'finetune must be one of {FINETUNE_MODES}, '
                             f'got {finetune!r}')
        visual = build_clip_model(model_name, pretrained, quick_gelu).visual
        self._check_tower(visual, model_name)
        num_layers = len(visual.transformer.resblocks)
        out_indices = tuple(out_indices)
        bad = [
            i for i in out_indices
            if not isinstance(i, int) or not 1 <= i <= num_layers
        ]
        if bad:
            raise ValueError(
                f'out_indices {bad} out of range: {model_name} has '
                f'{num_layers} blocks, use 1-based indices in '
                f'[1, {num_layers}].')
        split_qkv_projections(visual)
        self.visual = visual
        self.model_name = model_name
        self.dense_mode = dense_mode
        self.dense_residual = dense_residual
        self.out_indices = out_indices
        self.with_attn = with_attn
        self.finetune = finetune
        self.num_layers = num_layers
        self.patch_size = tuple(visual.patch_size)
        self.native_grid = tuple(visual.grid_size)
        self.width = visual.conv1.out_channels
        self.embed_dims = visual.proj.shape[1]
        self.trainable_names = apply_finetune(self.visual, finetune)
        # (h, w) -> (parameter stamp, detached resized embedding)
        self._pos_cache: 'OrderedDict[Tuple[int, int], tuple]' = (
            OrderedDict())

    @property
    def feature_spec(self) -> CLIPFeatureSpec:
        """What :meth:`forward` returns: D-dim embeddings, the
        ``out_indices`` blocks at the patch grid (C_v channels each) and,
        with ``with_attn``, the attention map."""
        return CLIPFeatureSpec(f'backbone {type(self).__name__}',
                               self.embed_dims, 'grid',
                               (self.width, ) * len(self.out_indices),
                               self.with_attn)

    @staticmethod
    def _check_tower(visual: nn.Module, model_name: str) -> None:
        problems = []
        if not hasattr(visual, 'conv1') or not hasattr(visual, 'transformer'):
            problems.append('not a ViT')
        else:
            if getattr(visual, 'attn_pool', None) is not None:
                problems.append('attentional pooling')
            if visual.pool_type != 'tok' or visual.proj is None:
                problems.append('no [CLS] token pooling + projection')
            if isinstance(visual.patch_dropout, PatchDropout):
                problems.append('patch dropout')
            if not visual.transformer.batch_first:
                problems.append('sequence-first transformer')
            if not all(
                    isinstance(b, ResidualAttentionBlock)
                    for b in visual.transformer.resblocks):
                problems.append('custom attention blocks')
        if problems:
            raise ValueError(f'{model_name} image tower is not supported by '
                             f'CLIPViTBackbone: {", ".join(problems)}')

    def _resize_pos_embed(self, h: int, w: int) -> Tensor:
        """Position embedding for an h x w grid, (1 + h*w, C_v)."""
        pos = self.visual.positional_embedding
        if (h, w) == self.native_grid:
            return pos
        need_graph = pos.requires_grad and torch.is_grad_enabled()
        stamp = (pos._version, pos.data_ptr(), pos.dtype, pos.device)
        if not need_graph:
            hit = self._pos_cache.get((h, w))
            if hit is not None and hit[0] == stamp:
                return hit[1]
        g_h, g_w = self.native_grid
        grid = rearrange(pos[1:], '(gh gw) c -> 1 c gh gw', gh=g_h, gw=g_w)
        grid = F.interpolate(
            grid, size=(h, w), mode='bicubic', align_corners=False)
        grid = rearrange(grid, '1 c h w -> (h w) c')
        out = torch.cat([pos[:1], grid], dim=0)
        if not need_graph:
            out = out.detach()
            self._pos_cache[(h, w)] = (stamp, out)
            while len(self._pos_cache) > 8:
                self._pos_cache.popitem(last=False)
        return out

    def _embed(self, img: Tensor) -> Tuple[Tensor, int, int]:
        """(B, 3, H, W) -> tokens (B, 1 + N, C_v) after ``ln_pre``."""
        if img.dim() != 4 or img.shape[1] != 3:
            raise ValueError('CLIPViTBackbone expects images (B, 3, H, W), '
                             f'got {tuple(img.shape)}')
        p_h, p_w = self.patch_size
        H, W = img.shape[-2:]
        if H % p_h or W % p_w:
            raise ValueError(
                f'image size {H}x{W} is not a multiple of the patch size '
                f'{p_h}x{p_w}: resize or pad the input (e.g. the crop size '
                'or the data_preprocessor size_divisor).')
        v = self.visual
        x = v.conv1(img.to(v.conv1.weight.dtype))  # (B, C_v, h, w)
        b, _, h, w = x.shape
        x = rearrange(x, 'b c h w -> b (h w) c')
        cls = v.class_embedding.to(x.dtype).expand(b, 1, -1)  # (B, 1, C_v)
        x = torch.cat([cls, x], dim=1)  # (B, 1 + N, C_v)
        x = x + self._resize_pos_embed(h, w).to(x.dtype)
        return v.ln_pre(x), h, w

    def _dense_maskclip(self, blk: ResidualAttentionBlock,
                        x: Tensor) -> Tensor:
        """Last-block value path for the patch tokens, (B, N, C_v)."""
        attn = blk.attn
        c = self.width
        bias = attn.in_proj_bias[2 * c:] if attn.in_proj_bias is not None \
            else None
        v = F.linear(blk.ln_1(x[:, 1:]), attn.v_proj_weight, bias)
        v = attn.out_proj(v)  # (B, N, C_v)
        residual = x[:, :1] if self.dense_residual == 'cls' else x[:, 1:]
        v = residual + blk.ls_1(v)
        return v + blk.ls_2(blk.mlp(blk.ln_2(v)))

    def forward(self, img: Tensor) -> CLIPImageFeatures:
        """Encode images.

        Args:
            img: (B, 3, H, W) CLIP-normalised images; H and W multiples of
                the patch size (grid h = H / p, w = W / p).

        Returns:
            :class:`CLIPImageFeatures` (cls (B, D), dense (B, D, h, w),
            inter_feats [(B, C_v, h, w)], attn (B, N, N) or None,
            last_feats (B, C_v, h, w)).

        Raises:
            ValueError: wrong input shape or size not a multiple of the patch.
        """
        v = self.visual
        x, h, w = self._embed(img)
        blocks = v.transformer.resblocks
        inter: Dict[int, Tensor] = {}
        for i, blk in enumerate(blocks[:-1], start=1):
            x = blk(x)
            if i in self.out_indices:
                inter[i] = x[:, 1:]
        last = blocks[-1]
        attn_weights = None
        if self.with_attn:
            y = last.ln_1(x)
            out, attn_weights = last.attn(
                y, y, y, need_weights=True, average_attn_weights=True)
            x_last = x + last.ls_1(out)
            x_last = x_last + last.ls_2(last.mlp(last.ln_2(x_last)))
            # (B, 1 + N, 1 + N) -> (B, N, N): softmax over all tokens incl.
            # [CLS], then the [CLS] row and column are dropped.
            attn_weights = attn_weights[:, 1:, 1:]
        else:
            x_last = last(x)
        if self.num_layers in self.out_indices:
            inter[self.num_layers] = x_last[:, 1:]
        cls_embed = v.ln_post(x_last[:, 0]) @ v.proj  # (B, D)
        if self.dense_mode == 'maskclip':
            dense = self._dense_maskclip(last, x)
        else:
            dense = x_last[:, 1:]
        dense = v.ln_post(dense) @ v.proj  # (B, N, D)
        dense = rearrange(dense, 'b (h w) d -> b d h w', h=h, w=w)
        inter_feats = [
            rearrange(inter[i], 'b (h w) c -> b c h w', h=h, w=w)
            for i in self.out_indices
        ]
        # (B, 1 + N, C_v) -> (B, C_v, h, w), [CLS] dropped
        last_feats = rearrange(x_last[:, 1:], 'b (h w) c -> b c h w', h=h, w=w)
        return CLIPImageFeatures(cls_embed, dense, inter_feats, attn_weights,
                                 last_feats)
