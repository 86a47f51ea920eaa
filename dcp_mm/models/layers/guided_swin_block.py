"""Swin block whose query and key also see a guidance feature.

The modification of DCP-CLIP Eq. 13-14 (and CAT-Seg's spatial aggregation):
``Q = [x ; g] W_q``, ``K = [x ; g] W_k``, ``V = x W_v``; everything else as in
Swin (window attention with the learnable relative-position bias, cyclic
shift with the -100 mask, pre-norm residual, MLP). mmseg's ``ShiftWindowMSA``
computes Q, K and V from one input of one width and returns that width, so
the modification cannot be expressed through it; the shift mask and the
relative-position bias follow it exactly (Swin, Liu et al. ICCV 2021, Eq. 4;
https://github.com/open-mmlab/mmsegmentation/blob/main/mmseg/models/
backbones/swin.py, Apache-2.0). DCP-CLIP Sec. III-C keeps "the rest of the
Swin Transformer's architecture" unchanged, so the bias is on by default;
CAT-Seg's official ``WindowAttention`` has none (``rel_pos_bias=False``).
Windows larger than the grid shrink to the grid.
"""
from typing import Any, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from timm.layers import Mlp
from torch import Tensor


def _shift_mask(h: int, w: int, window: int, shift: int,
                device: torch.device) -> Tensor:
    """Additive attention mask (nW, window^2, window^2), 0 / -100 (Swin)."""
    img_mask = torch.zeros((h, w), device=device)
    cnt = 0
    slices = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for hs in slices:
        for ws in slices:
            img_mask[hs, ws] = cnt
            cnt += 1
    # (h, w) -> (nW, window*window)
    win = rearrange(
        img_mask, '(nh wh) (nw ww) -> (nh nw) (wh ww)', wh=window, ww=window)
    mask = win[:, None, :] - win[:, :, None]
    return mask.masked_fill(mask != 0, -100.0)


def relative_position_index(window: int, table_window: int,
                            device: torch.device) -> Tensor:
    """(window^2, window^2) indices into a ((2 W - 1)^2, heads) bias table.

    Swin's ``relative_position_index`` for a table built for windows of side
    ``table_window`` = W; a smaller window (a grid smaller than W) uses the
    central part of the same table.
    """
    if window > table_window:
        raise ValueError(f'window {window} larger than the bias table\'s '
                         f'window {table_window}')
    coords = torch.stack(
        torch.meshgrid(
            torch.arange(window, device=device),
            torch.arange(window, device=device),
            indexing='ij')).flatten(1)  # (2, window^2)
    rel = coords[:, :, None] - coords[:, None, :]  # (2, L, L)
    rel = rel + table_window - 1  # shift to [0, 2 W - 2]
    return rel[0] * (2 * table_window - 1) + rel[1]


class GuidedWindowAttention(nn.Module):
    """(Shifted) window attention with guidance in Q and K only.

    Args:
        dim: channels C of x (and of V and the output).
        guidance_dim: channels G of the guidance (0: plain window attention).
        num_heads: attention heads (C must be divisible by it).
        window_size: window side in cells.
        shift_size: cyclic shift (0 for W-MSA, window_size // 2 for SW-MSA).
        rel_pos_bias (keyword only): add Swin's learnable relative-position
            bias ``B`` (a ((2 window - 1)^2, heads) table, truncated-normal
            init with std 0.02 as Swin) to the attention logits. Default
            True (Swin; DCP-CLIP Sec. III-C); False for CAT-Seg.
    """

    def __init__(self,
                 dim: int,
                 guidance_dim: int,
                 num_heads: int,
                 window_size: int,
                 shift_size: int = 0,
                 *,
                 rel_pos_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'dim {dim} not divisible by heads {num_heads}')
        if not 0 <= shift_size < window_size:
            raise ValueError(f'need 0 <= shift_size ({shift_size}) < '
                             f'window_size ({window_size})')
        self.num_heads = num_heads
        self.window_size = window_size
        self.shift_size = shift_size
        self.q = nn.Linear(dim + guidance_dim, dim)
        self.k = nn.Linear(dim + guidance_dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = (
            nn.Parameter(
                nn.init.trunc_normal_(
                    torch.empty((2 * window_size - 1)**2, num_heads),
                    std=0.02)) if rel_pos_bias else None)

    def _bias(self, window: int, device: torch.device) -> Tensor:
        """(1, heads, L, L) relative-position bias of a window of side
        ``window`` (L = window^2)."""
        index = relative_position_index(window, self.window_size, device)
        # ((2W-1)^2, heads)[L, L] -> (L, L, heads) -> (1, heads, L, L)
        bias = self.relative_position_bias_table[index.reshape(-1)]
        return bias.reshape(index.shape[0], index.shape[1],
                            -1).permute(2, 0, 1)[None]

    def forward(self, x: Tensor, guidance: Optional[Tensor]) -> Tensor:
        """x: (N, H, W, C); guidance: (N, H, W, G) or None -> (N, H, W, C)."""
        n, h, w, c = x.shape
        window = min(self.window_size, h, w)
        shift = self.shift_size if window == self.window_size else 0
        if shift >= window:
            shift = 0
        qk_in = x if guidance is None else torch.cat([x, guidance], dim=-1)
        pad_b, pad_r = (-h) % window, (-w) % window
        if pad_b or pad_r:
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
            qk_in = F.pad(qk_in, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = x.shape[1], x.shape[2]
        if shift:
            x = torch.roll(x, (-shift, -shift), dims=(1, 2))
            qk_in = torch.roll(qk_in, (-shift, -shift), dims=(1, 2))
        part = '(n) (nh wh) (nw ww) c -> (n nh nw) (wh ww) c'
        # (N, Hp, Wp, C) -> (N*nW, window*window, C)
        xw = rearrange(x, part, wh=window, ww=window)
        gw = rearrange(qk_in, part, wh=window, ww=window)
        heads = '(b) l (nh d) -> b nh l d'
        q = rearrange(self.q(gw), heads, nh=self.num_heads)
        k = rearrange(self.k(gw), heads, nh=self.num_heads)
        v = rearrange(self.v(xw), heads, nh=self.num_heads)
        mask = None
        if shift:
            nw = (hp // window) * (wp // window)
            # (nW, L, L) -> (N*nW, 1, L, L), windows vary fastest
            mask = _shift_mask(hp, wp, window, shift, x.device)
            mask = mask.to(q.dtype).repeat(n, 1, 1)[:, None]
            assert mask.shape[0] == n * nw, 'mask/window count mismatch'
        if self.relative_position_bias_table is not None:
            bias = self._bias(window, x.device).to(q.dtype)
            mask = bias if mask is None else mask + bias
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        # (N*nW, heads, L, d) -> (N*nW, L, C)
        out = self.proj(rearrange(out, 'b nh l d -> b l (nh d)'))
        # (N*nW, window*window, C) -> (N, Hp, Wp, C)
        out = rearrange(
            out,
            '(n nh nw) (wh ww) c -> n (nh wh) (nw ww) c',
            n=n,
            nh=hp // window,
            wh=window)
        if shift:
            out = torch.roll(out, (shift, shift), dims=(1, 2))
        return out[:, :h, :w].contiguous()


class GuidedSwinBlock(nn.Module):
    """Pre-norm Swin block: ``x + WA(LN(x), LN(g))`` then ``x + MLP(LN(x))``.

    Args:
        dim: channels C of the feature.
        guidance_dim: channels G of the guidance (0: none).
        *attn_args, **attn_kwargs: the rest of the window attention's
            (:class:`GuidedWindowAttention`) arguments, passed through:
            num_heads: attention heads; window_size: window side;
            shift_size: cyclic shift (default 0); rel_pos_bias (keyword):
            relative-position bias in the window attention (default True,
            Swin; False for CAT-Seg).
        mlp_ratio: hidden width of the MLP relative to C (keyword).

    Shapes:
        x: (N, C, H, W); guidance: (N, G, H, W) or None; returns (N, C, H, W).
    """

    def __init__(self,
                 dim: int,
                 guidance_dim: int,
                 *attn_args: Any,
                 mlp_ratio: float = 4.0,
                 **attn_kwargs: Any) -> None:
        super().__init__()
        self.guidance_dim = guidance_dim
        self.norm1 = nn.LayerNorm(dim)
        self.guidance_norm = (
            nn.LayerNorm(guidance_dim) if guidance_dim > 0 else None)
        self.attn = GuidedWindowAttention(dim, guidance_dim, *attn_args,
                                          **attn_kwargs)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, guidance: Optional[Tensor] = None) -> Tensor:
        if (guidance is None) != (self.guidance_norm is None):
            raise ValueError(
                f'block built with guidance_dim={self.guidance_dim} but '
                f'guidance is {"None" if guidance is None else "given"}')
        # (N, C, H, W) -> (N, H, W, C)
        x = x.permute(0, 2, 3, 1)
        g = None
        if guidance is not None:
            # (N, G, H, W) -> (N, H, W, G)
            g = self.guidance_norm(guidance.permute(0, 2, 3, 1))
        x = x + self.attn(self.norm1(x), g)
        x = x + self.mlp(self.norm2(x))
        # (N, H, W, C) -> (N, C, H, W)
        return x.permute(0, 3, 1, 2).contiguous()
