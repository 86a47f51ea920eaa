"""Linear attention across categories (CAT-Seg class aggregation, SED).

CAT-Seg's ``ClassTransformerLayer`` (official ``cat_seg/modeling/
transformer/model.py``, CAT-Seg cat_seg/modeling/transformer/model.py) and
SED's copy of it
(SED sed/modeling/transformer/model.py): per pixel, the K category features
attend to each
other with an ``elu + 1`` kernelised linear attention (no positional
encoding, hence permutation-equivariant over categories), optionally on an
average-pooled grid that is bilinearly upsampled back (``align_corners=True``)
and added as a residual.

Padding of per-image selections (``valid`` False, images with different K in
one batch) is handled so that a batched forward equals a per-image forward:

* ``pad_len > 0`` (CAT-Seg): the official layer appends learnable padding
  tokens (and padding guidance) up to ``pad_len`` classes and does NOT mask
  them: they are ordinary keys and values. An invalid slot is therefore
  replaced by the padding token (and its guidance by the padding guidance)
  before padding to ``pad_len``: image b then holds exactly K_b real tokens
  and ``pad_len - K_b`` padding tokens, the same set of keys as an
  unbatched run (attention is permutation-invariant over keys).
* ``pad_len == 0`` (SED): invalid slots are masked out as keys (their kernel
  features are zeroed) and the normaliser S is each row's number of valid
  keys, as in an unbatched run with S = K_b.

Outputs at invalid slots are finite but meaningless.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange, repeat
from timm.layers import Mlp
from torch import Tensor

PoolSize = Union[int, Sequence[int]]


def _pair(size: Optional[PoolSize], name: str) -> Optional[Tuple[int, int]]:
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and s >= 1 for s in pair):
        raise ValueError(f'{name} must be a positive int or a pair of '
                         f'positive ints, got {size!r}')
    return pair


def linear_attention(q: Tensor,
                     k: Tensor,
                     v: Tensor,
                     key_mask: Optional[Tensor] = None,
                     eps: float = 1e-6) -> Tensor:
    """Kernelised linear attention with the ``elu + 1`` feature map.

    Follows CAT-Seg's ``LinearAttention`` op by op (CAT-Seg
    cat_seg/modeling/transformer/model.py):
    ``Q = elu(q) + 1``, ``K = elu(k) + 1``, ``v = v / S``,
    ``KV = sum_s K_s v_s^T``, ``Z = 1 / (Q . sum_s K_s + eps)``,
    ``out = Q KV Z * S`` (S = number of keys; the division and the
    multiplication by S cancel up to rounding).

    Args:
        q: (N, L, H, d) queries (N rows, L queries, H heads).
        k: (N, S, H, d) keys.
        v: (N, S, H, d_v) values.
        key_mask: optional (N, S) bool, False for keys to ignore; S then
            counts the valid keys of each row (each row needs one).
        eps: added to the normaliser.

    Returns:
        Tensor: (N, L, H, d_v).
    """
    q = F.elu(q) + 1
    k = F.elu(k) + 1
    if key_mask is None:
        s = v.shape[1]
    else:
        k = k * key_mask[:, :, None, None].to(k.dtype)
        # (N,) -> (N, 1, 1, 1): valid keys per row
        s = key_mask.sum(dim=1).to(v.dtype)[:, None, None, None]
    v = v / s
    kv = torch.einsum('nshd,nshv->nhdv', k, v)
    z = 1 / (torch.einsum('nlhd,nhd->nlh', q, k.sum(dim=1)) + eps)
    return torch.einsum('nlhd,nhdv,nlh->nlhv', q, kv, z) * s


class ClassLinearAttention(nn.Module):
    """Multi-head linear attention whose Q and K also see a guidance.

    ``q = W_q [x ; g]``, ``k = W_k [x ; g]``, ``v = W_v x``; no output
    projection (CAT-Seg ``AttentionLayer`` with ``attention_type='linear'``).

    Args:
        dim: channels C of x.
        guidance_dim: channels G of the guidance (0: none).
        num_heads: heads (C must be divisible by it).

    Shapes:
        x: (N, L, C); guidance: (N, L, G) or None; key_mask: (N, L) bool or
        None; returns (N, L, C).
    """

    def __init__(self, dim: int, guidance_dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads '
                             f'{num_heads}')
        self.num_heads = num_heads
        self.guidance_dim = guidance_dim
        self.q = nn.Linear(dim + guidance_dim, dim)
        self.k = nn.Linear(dim + guidance_dim, dim)
        self.v = nn.Linear(dim, dim)

    def forward(self,
                x: Tensor,
                guidance: Optional[Tensor] = None,
                key_mask: Optional[Tensor] = None) -> Tensor:
        if (guidance is None) != (self.guidance_dim == 0):
            raise ValueError(
                f'built with guidance_dim={self.guidance_dim} but guidance '
                f'is {"None" if guidance is None else "given"}')
        qk_in = x if guidance is None else torch.cat([x, guidance], dim=-1)
        heads = 'n l (h d) -> n l h d'
        q = rearrange(self.q(qk_in), heads, h=self.num_heads)
        k = rearrange(self.k(qk_in), heads, h=self.num_heads)
        v = rearrange(self.v(x), heads, h=self.num_heads)
        out = linear_attention(q, k, v, key_mask)
        # (N, L, H, d) -> (N, L, C)
        return rearrange(out, 'n l h d -> n l (h d)')


class ClassTransformerLayer(nn.Module):
    """Pre-norm transformer layer across categories, per (pooled) pixel.

    ``x_p = AvgPool(x)``; tokens ``(B h' w', K, C)``;
    ``x_p = x_p + Attn(LN(x_p), g)``; ``x_p = x_p + MLP(LN(x_p))`` (Linear,
    ReLU, Linear); ``x = x + Up(x_p)`` (bilinear, ``align_corners=True``).

    Args:
        dim: channels C.
        guidance_dim: channels G of the per-category guidance (0: none, SED).
        num_heads: attention heads.
        pooling_size: average-pooling window in training (CAT-Seg / SED
            train with 2 x 2).
        test_pooling_size: window in eval mode; None -> ``pooling_size``.
            The official code has no mode switch: its evaluation script
            rebuilds the model with ``POOLING_SIZES [1, 1]``, which this
            option reproduces (1 x 1 skips pooling and upsampling, which are
            exact identities then).
        pad_len: CAT-Seg pads the category axis to this many tokens with a
            learnable padding token (0: no padding tokens, SED). See the
            module docstring for how invalid (padded) categories are treated.
        mlp_ratio: hidden width of the MLP relative to C.

    Shapes:
        x: (B, K, C, H, W); guidance: (B, K, G) or None; valid: (B, K) bool or
        None (all valid); returns (B, K, C, H, W).
    """

    def __init__(self,
                 dim: int,
                 guidance_dim: int = 0,
                 num_heads: int = 4,
                 pooling_size: PoolSize = (2, 2),
                 test_pooling_size: Optional[PoolSize] = None,
                 pad_len: int = 0,
                 mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if not isinstance(pad_len, int) or pad_len < 0:
            raise ValueError(f'pad_len must be an int >= 0, got {pad_len!r}')
        self.pooling_size = _pair(pooling_size, 'pooling_size')
        self.test_pooling_size = _pair(test_pooling_size, 'test_pooling_size')
        self.pad_len = pad_len
        self.guidance_dim = guidance_dim
        self.attention = ClassLinearAttention(dim, guidance_dim, num_heads)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.ReLU)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        if pad_len > 0:
            self.padding_tokens = nn.Parameter(torch.zeros(1, 1, dim))
            self.padding_guidance = (
                nn.Parameter(torch.zeros(1, 1, guidance_dim))
                if guidance_dim > 0 else None)
        else:
            self.padding_tokens = self.padding_guidance = None

    def current_pooling_size(self) -> Tuple[int, int]:
        """Pooling window of this forward (train or eval mode)."""
        if not self.training and self.test_pooling_size is not None:
            return self.test_pooling_size
        return self.pooling_size

    def _pad(self, tokens: Tensor, guidance: Optional[Tensor],
             valid: Optional[Tensor]):
        """CAT-Seg padding: invalid slots and the tail become pad tokens."""
        n, k, _ = tokens.shape  # (B*h'*w', K, C)
        pad_tok = self.padding_tokens.to(tokens.dtype)
        pad_g = (None if self.padding_guidance is None else
                 self.padding_guidance.to(tokens.dtype))
        if valid is not None:
            keep = valid[:, :, None]  # (N, K, 1)
            tokens = torch.where(keep, tokens, pad_tok)
            if guidance is not None:
                guidance = torch.where(keep, guidance, pad_g)
        extra = self.pad_len - k
        if extra > 0:
            tokens = torch.cat([tokens, pad_tok.expand(n, extra, -1)], dim=1)
            if guidance is not None:
                guidance = torch.cat(
                    [guidance, pad_g.expand(n, extra, -1)], dim=1)
        return tokens, guidance

    def forward(self,
                x: Tensor,
                guidance: Optional[Tensor] = None,
                valid: Optional[Tensor] = None) -> Tensor:
        if x.dim() != 5:
            raise ValueError(f'expected x (B, K, C, H, W), got '
                             f'{tuple(x.shape)}')
        b, k, c, h, w = x.shape
        if guidance is not None and guidance.shape[:2] != (b, k):
            raise ValueError(
                f'guidance {tuple(guidance.shape)} does not match '
                f'x (B={b}, K={k})')
        pool = self.current_pooling_size()
        pooled = x.flatten(0, 1)  # (B, K, C, H, W) -> (B*K, C, H, W)
        if pool != (1, 1):
            pooled = F.avg_pool2d(pooled, pool)
        hp, wp = pooled.shape[-2:]
        # (B*K, C, h', w') -> (B*h'*w', K, C)
        tokens = rearrange(pooled, '(b k) c h w -> (b h w) k c', b=b)
        g = None
        if guidance is not None:
            # (B, K, G) -> (B*h'*w', K, G)
            g = repeat(guidance, 'b k g -> (b h w) k g', h=hp, w=wp)
        rows_valid = None
        if valid is not None and not bool(valid.all()):
            # (B, K) -> (B*h'*w', K)
            rows_valid = repeat(valid, 'b k -> (b h w) k', h=hp, w=wp)
        key_mask = None
        if self.pad_len > 0:
            tokens, g = self._pad(tokens, g, rows_valid)
        else:
            key_mask = rows_valid
        tokens = tokens + self.attention(self.norm1(tokens), g, key_mask)
        tokens = tokens + self.mlp(self.norm2(tokens))
        # (B*h'*w', K(+pad), C) -> (B*K, C, h', w'), padding dropped
        out = rearrange(
            tokens[:, :k], '(b h w) k c -> (b k) c h w', b=b, h=hp, w=wp)
        if pool != (1, 1):
            out = F.interpolate(
                out, size=(h, w), mode='bilinear', align_corners=True)
        return x + out.reshape(b, k, c, h, w)
