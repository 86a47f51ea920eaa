"""Cosine cost volume between dense image embeddings and text embeddings."""
import torch
import torch.nn.functional as F
from torch import Tensor


def cosine_cost_volume(dense_embeds: Tensor,
                       text_embeds: Tensor,
                       normalize_text: bool = True) -> Tensor:
    """Per-template cosine similarity of every patch with every category.

    Follows CAT-Seg (``einsum('bchw, btpc -> bpthw')``, F.normalize with
    eps 1e-12 on both sides, no temperature), laid out category-first.

    Args:
        dense_embeds: (B, D, h, w) dense image embeddings (any norm).
        text_embeds: (B, K, P, D) text embeddings per category and template.
        normalize_text: L2-normalise the text (default). False for text that
            is already unit-norm where the official code does not normalise
            it again (normalising twice changes the last bits).

    Returns:
        Tensor: (B, K, P, h, w) float32 cosine similarities in [-1, 1]
        (DCP-CLIP Eq. 6, C_0). Computed in float32 with autocast disabled:
        under bf16 / fp16 mixed precision the cosines keep float32
        precision (bf16 has ~3 significant digits).
    """
    if dense_embeds.dim() != 4 or text_embeds.dim() != 4:
        raise ValueError('expected dense_embeds (B, D, h, w) and text_embeds '
                         f'(B, K, P, D), got {tuple(dense_embeds.shape)} and '
                         f'{tuple(text_embeds.shape)}')
    if dense_embeds.shape[1] != text_embeds.shape[-1]:
        raise ValueError(
            f'embedding dims differ: image D={dense_embeds.shape[1]}, '
            f'text D={text_embeds.shape[-1]}')
    # meta tensors (shape-only FLOP counting) have no autocast of their own
    device_type = dense_embeds.device.type
    if device_type == 'meta':
        device_type = 'cpu'
    with torch.autocast(device_type=device_type, enabled=False):
        img = F.normalize(dense_embeds.float(), dim=1)
        txt = text_embeds.float()
        if normalize_text:
            txt = F.normalize(txt, dim=-1)
        return torch.einsum('bdhw,bkpd->bkphw', img, txt)
