"""2-D sine position embedding of a feature map (DETR / Mask2Former)."""
import math

import torch
from torch import Tensor


def sine_position_embedding(x: Tensor,
                            num_feats: int,
                            temperature: float = 10000.0,
                            scale: float = 2 * math.pi) -> Tensor:
    """Normalised 2-D sine / cosine position embedding, no parameters.

    Mask2Former's ``PositionEmbeddingSine(num_feats, normalize=True)``
    without a padding mask (github.com/facebookresearch/Mask2Former,
    ``mask2former/modeling/transformer_decoder/position_encoding.py``, MIT;
    copied by FC-CLIP and MAFT+): row / column indices ``1..h`` / ``1..w``
    are mapped to ``(i - 0.5) / (n + 1e-6) * scale``, divided by
    ``temperature ** (2 * (j // 2) / num_feats)`` for ``j < num_feats``;
    even channels take the sine, odd ones the cosine; the y half comes
    first.

    Args:
        x: (B, C, h, w) feature map (only its shape, device are used).
        num_feats: channels per axis (the output has ``2 * num_feats``).
        temperature: frequency base.
        scale: range of the normalised coordinates.

    Returns:
        (B, 2 * num_feats, h, w) float32 embedding in [-1, 1].

    Raises:
        ValueError: ``x`` is not 4-D or ``num_feats`` is not a positive even
            int.
    """
    if x.dim() != 4:
        raise ValueError(f'expected a (B, C, h, w) map, got {tuple(x.shape)}')
    if num_feats < 2 or num_feats % 2:
        raise ValueError(f'num_feats must be a positive even int, got '
                         f'{num_feats}')
    b, _, h, w = x.shape
    eps = 1e-6
    y = torch.arange(1, h + 1, dtype=torch.float32, device=x.device)
    xx = torch.arange(1, w + 1, dtype=torch.float32, device=x.device)
    y = (y - 0.5) / (h + eps) * scale  # (h,)
    xx = (xx - 0.5) / (w + eps) * scale  # (w,)
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=x.device)
    dim_t = temperature**(2 * torch.div(dim_t, 2, rounding_mode='floor') /
                          num_feats)  # (F,)
    pos_y = y[:, None] / dim_t  # (h, F)
    pos_x = xx[:, None] / dim_t  # (w, F)
    # interleave sin (even channels) and cos (odd channels): (n, F)
    pos_y = torch.stack((pos_y[:, 0::2].sin(), pos_y[:, 1::2].cos()),
                        dim=2).flatten(1)
    pos_x = torch.stack((pos_x[:, 0::2].sin(), pos_x[:, 1::2].cos()),
                        dim=2).flatten(1)
    # (h, F) and (w, F) -> (2F, h, w): y half first, then x half
    pos = torch.cat([
        pos_y.t()[:, :, None].expand(-1, h, w),
        pos_x.t()[:, None, :].expand(-1, h, w)
    ],
                    dim=0)
    return pos[None].expand(b, -1, -1, -1)
