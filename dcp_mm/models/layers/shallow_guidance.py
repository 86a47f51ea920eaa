"""CAT-Seg's shallow (CLIP block) guidance of the upsampling decoder."""
from typing import Sequence, Tuple

import torch.nn as nn
from torch import Tensor


def build_shallow_guidance(
        clip_channels: int, up_dims: Sequence[int], dims: Sequence[int],
        num_layers: int) -> Tuple[nn.ModuleList, nn.ModuleList]:
    """Layers that lift CLIP block features to decoder layer i's grid.

    Layer i: ``ConvTranspose2d(C_v, up_dims[i], 2^(i+1), stride 2^(i+1))``
    (x2, x4 of the patch grid) then ``ReLU(Conv3x3(up_dims[i] -> dims[i]))``
    (CAT-Seg's ``upsample1/2`` and ``decoder_guidance_projection``,
    https://github.com/cvlab-kaist/CAT-Seg, cat_seg/modeling/transformer/
    cat_seg_predictor.py and model.py, MIT licence).

    Returns:
        (shallow_up, shallow_proj), ``num_layers`` modules each.
    """
    shallow_up, shallow_proj = nn.ModuleList(), nn.ModuleList()
    for i in range(num_layers):
        s = 2**(i + 1)
        shallow_up.append(
            nn.ConvTranspose2d(clip_channels, up_dims[i], s, stride=s))
        shallow_proj.append(
            nn.Sequential(
                nn.Conv2d(up_dims[i], dims[i], 3, padding=1), nn.ReLU()))
    return shallow_up, shallow_proj


def shallow_guidance(up: nn.Module, proj: nn.Module, feat: Tensor,
                     k: int) -> Tensor:
    """(B, C_v, h, w) block feature -> (B*K, g, s*h, s*w) guidance,
    repeated over the K categories of each image."""
    return proj(up(feat)).repeat_interleave(k, dim=0)
