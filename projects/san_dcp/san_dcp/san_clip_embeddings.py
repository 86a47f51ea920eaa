"""CLIP joint-space embeddings taken from SAN's own (frozen) CLIP towers.

mmseg's SAN (``MultimodalEncoderDecoder`` + ``SideAdapterCLIPHead``) splits
one CLIP ViT in two: ``image_encoder`` (``VisionTransformer``) runs the
first L - l blocks, and the head's ``rec_with_attnbias``
(``RecWithAttnbias``) holds the last l blocks plus CLIP's ``ln_post`` and
``proj``, which it runs on [SOS] query tokens with attention biases. DCP-CLIP's
Tag Validation and Dynamic Category Selection need the plain CLIP outputs
instead: the image embedding (B, D) and dense patch embeddings (B, D, h, w)
in the space of the text embeddings. :func:`san_clip_embeds` gets them by
running ``rec_with_attnbias``'s blocks on the image encoder's last
[CLS] + patch tokens WITHOUT [SOS] tokens or attention bias, i.e. the
complete CLIP image tower. :func:`san_text_embeds` and
:func:`san_class_names` read SAN's ``CLIPTextEncoder`` the way its own
``forward`` does.

Source: mmseg 1.2.2 ``mmseg/models/decode_heads/san_head.py`` and
``mmseg/models/text_encoder/clip_text_encoder.py`` (Apache-2.0; SAN itself
MIT, https://github.com/MendelXu/SAN).
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.utils import get_classes
from torch import Tensor

DENSE_MODES = ('maskclip', 'plain')
SAN_BLOCK_ORDER = ('norm', 'self_attn', 'norm', 'ffn')


def san_clip_inputs(segmentor: nn.Module, inputs: Tensor) -> Tensor:
    """(B, 3, H, W) -> the SAN image encoder's input, as SAN's
    ``encode_decode`` (``encoder_resolution`` x when asymmetric).

    Used as the ``clip_inputs`` method of the projects' SAN segmentors.
    """
    if not segmentor.asymetric_input:
        return inputs
    return F.interpolate(
        inputs, scale_factor=segmentor.encoder_resolution, mode='bilinear')


def san_class_names(text_encoder: nn.Module) -> List[str]:
    """The T category names a SAN ``CLIPTextEncoder`` embeds, in order.

    Mirrors ``CLIPTextEncoder.forward``: its ``vocabulary``, or the classes
    of its ``dataset_name`` (``mmseg.utils.get_classes``) without a leading
    ``'background'``.
    """
    if text_encoder.dataset_name is None:
        return list(text_encoder.vocabulary)
    names = list(get_classes(text_encoder.dataset_name))
    return names[1:] if names[0] == 'background' else names


def san_text_embeds(text_encoder: nn.Module) -> Tensor:
    """Template-averaged, L2-normalised text embeddings (T, D).

    ``CLIPTextEncoder()`` returns ``exp(logit_scale) * E`` with the learned
    background embedding appended as row T when ``cat_bg``; both are undone.
    """
    embeds = text_encoder()  # (T [+ 1], D), scaled by exp(logit_scale)
    if text_encoder.cat_bg:
        embeds = embeds[:-1]
    return F.normalize(embeds, dim=-1)


def _maskclip_value_path(block: nn.Module, x: Tensor) -> Tensor:
    """MaskCLIP dense path of one SAN CLIP block, patches only.

    No attention mixing: ``v = out_proj(v_proj(norm1(x)))``, the block's
    input [CLS] token as residual (dcp_mm ``CLIPViTBackbone`` default
    ``dense_residual='cls'``), then the block's FFN with its residual.

    Args:
        block: an mmcv ``BaseTransformerLayer`` of ``RecWithAttnbias``.
        x: (1 + N, B, C) block input, [CLS] first (sequence-first).

    Returns:
        (N, B, C) patch tokens.
    """
    if tuple(block.operation_order) != SAN_BLOCK_ORDER:
        raise ValueError(f'expected a pre-norm CLIP block with operation '
                         f'order {SAN_BLOCK_ORDER}, got '
                         f'{tuple(block.operation_order)}')
    mha = block.attentions[0].attn  # torch nn.MultiheadAttention
    if not mha._qkv_same_embed_dim:
        raise ValueError('the MaskCLIP path needs a packed q/k/v projection '
                         '(in_proj_weight)')
    c = x.shape[-1]
    bias = None if mha.in_proj_bias is None else mha.in_proj_bias[2 * c:]
    v = F.linear(block.norms[0](x[1:]), mha.in_proj_weight[2 * c:], bias)
    v = x[:1] + mha.out_proj(v)  # (N, B, C), [CLS] residual broadcast
    return block.ffns[0](block.norms[1](v), identity=v)


@torch.no_grad()
def san_clip_embeds(rec_with_attnbias: nn.Module,
                    feature: Sequence[Tensor],
                    dense_mode: str = 'maskclip') -> Tuple[Tensor, Tensor]:
    """CLIP image embedding and dense patch embeddings from SAN's towers.

    Computed without gradient (the towers are frozen in SAN; TV and DCS do
    not back-propagate).

    Args:
        rec_with_attnbias: ``decode_head.rec_with_attnbias`` of SAN (the last
            CLIP blocks, ``ln_post``, ``proj``).
        feature: the image encoder's last output ``[patches, cls]`` with
            patches (B, C, h, w) and cls (B, C) (``clip_feature[-1]``, the
            input ``rec_with_attnbias`` itself receives; the image encoder
            must list its last block in ``out_indices``, as SAN does).
        dense_mode: ``'maskclip'`` (value path in the last block, as dcp_mm's
            ``CLIPViTBackbone`` default) or ``'plain'`` (the ordinary
            last-block patch tokens).

    Returns:
        cls_embed (B, D) and dense_embeds (B, D, h, w), joint space, NOT
        L2-normalised (as dcp_mm's ``CLIPImageFeatures``).

    Raises:
        ValueError: unknown ``dense_mode`` or malformed ``feature``.
    """
    if dense_mode not in DENSE_MODES:
        raise ValueError(f'dense_mode must be one of {DENSE_MODES}, got '
                         f'{dense_mode!r}')
    if len(feature) != 2 or feature[0].dim() != 4 or feature[1].dim() != 2:
        raise ValueError('feature must be [patches (B, C, h, w), cls (B, C)]'
                         ' (VisionTransformer with output_cls_token=True)')
    patches, cls = feature
    b, c, h, w = patches.shape
    # (B, C, h, w) -> (N, B, C), sequence-first as RecWithAttnbias
    tokens = patches.flatten(2).permute(2, 0, 1)
    x = torch.cat([cls[None], tokens])  # (1 + N, B, C)
    blocks = rec_with_attnbias.layers
    for block in blocks[:-1]:
        x = block(x)
    x_last = blocks[-1](x)  # (1 + N, B, C)
    if dense_mode == 'maskclip':
        x_last = torch.cat([x_last[:1], _maskclip_value_path(blocks[-1], x)])
    out = rec_with_attnbias.proj(rec_with_attnbias.ln_post(x_last))
    # (1 + N, B, D): [CLS] row, then (N, B, D) -> (B, D, N) -> (B, D, h, w)
    dense = out[1:].permute(1, 2, 0).reshape(b, -1, h, w)
    return out[0], dense
