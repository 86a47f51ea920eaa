"""Content-Dependent Transfer (CDT) of MAFT+ (Jiao et al., ECCV 2024)."""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from dcp_mm.structures import CLIPFeatureSpec, CompositionError, TextSpec
from ..layers.position_embedding import sine_position_embedding
from ..utils.arg_checks import check_positive_ints


@MODELS.register_module()
class ContentDependentTransfer(BaseModule):
    """Let each category's text embedding attend to the image (MAFT+ CDT).

    Ported from the official MAFT+ code, github.com/jiaosiyu1999/MAFT-Plus
    (MIT licence), ``maft/modeling/maft/content_dependent_transfer.py``
    (``ContentDependentTransfer`` and ``ShortCut_CrossAttention``), the
    semantic-segmentation variant. One cross-attention layer, nothing else
    (no dropout, no FFN, no attention among the texts)::

        q = t                                (no query position embedding)
        k = F + PE_sine(F),  v = F            (F: dense CLIP embeddings)
        t' = LayerNorm(t + Linear(MHA(q, k, v)))

    with ``nn.MultiheadAttention(D, num_heads)`` (sequence-first, biases),
    ``PE_sine`` the normalised 2-D sine embedding (D/2 channels per axis,
    temperature 1e4, scale 2 pi; :func:`~dcp_mm.models.layers.
    position_embedding.sine_position_embedding`). Initialisation as
    official: Xavier-uniform on the attention's ``in_proj_weight`` and
    ``out_proj.weight`` (the official ``_reset_parameters`` runs before the
    ``Linear`` exists), zero attention biases, PyTorch's default init for
    the ``Linear`` and the ``LayerNorm``.

    Queries never attend to each other: the output of a category does not
    depend on the other categories (any K, the K selected by DCS or all T;
    permutation-equivariant).

    Granularity (``per_template``): MAFT+ runs one query per class name
    (synonym) after averaging its templates; ``per_template=False`` does
    that: the P template embeddings are averaged and L2-normalised, the
    class embedding is transferred and copied to all P template slots (the
    cost volume then holds P equal channels). ``per_template=True`` runs
    every template as its own query (K * P queries).

    Output normalisation (``normalize_output``): the official code feeds the
    LayerNorm output (norm about sqrt(D) |gamma|) un-normalised into its
    logits; the cosine cost volume of this family needs unit vectors, so
    the output is L2-normalised by default (a deviation from MAFT+; the
    cosine cost itself is unaffected, the necks' text guidance is).

    Args:
        embed_dims: D, the joint CLIP embedding dim (640 for
            ``convnext_base_w_320``, 512 for ViT-B/16).
        num_heads: attention heads (MAFT+: 8); must divide D.
        per_template: one query per template (True) or per class (False,
            MAFT+).
        normalize_output: L2-normalise the output.
        init_cfg: mmengine init config.

    Shapes:
        text_embeds: (B or 1, K, D) or (B or 1, K, P, D) text embeddings
            (L2-normalised by the text encoder); batch 1 is shared by all
            images.
        dense_embeds: (B, D, h, w) joint-space dense CLIP embeddings, not
            normalised.
        returns: (B, K, D) or (B, K, P, D), same layout as the input,
            L2-normalised if ``normalize_output``.

    Raises:
        ValueError: bad constructor arguments; inputs of the wrong rank,
            embedding dim or batch size.
    """

    def __init__(self,
                 *,
                 embed_dims: int,
                 num_heads: int = 8,
                 per_template: bool = False,
                 normalize_output: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_positive_ints(embed_dims=embed_dims, num_heads=num_heads)
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must divide by '
                             f'num_heads ({num_heads})')
        if embed_dims % 4:
            raise ValueError(
                f'embed_dims ({embed_dims}) must divide by 4 (the sine '
                'position embedding has D/2 sin/cos channels per axis)')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.per_template = per_template
        self.normalize_output = normalize_output
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=0.0)
        self.norm = nn.LayerNorm(embed_dims)
        # official _reset_parameters: every parameter with dim > 1 that
        # exists before the Linear is created
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def check_inputs(self, image: CLIPFeatureSpec, text: TextSpec) -> None:
        """Needs D-dim dense and text embeddings (D = ``embed_dims``).

        Raises:
            CompositionError: naming this module and the part at fault.
        """
        part = f'text_adapter {type(self).__name__}'
        fix = 'set text_adapter.embed_dims to the CLIP embedding dim'
        image.require_embed_dims(part, self.embed_dims, fix)
        if text.embed_dims != self.embed_dims:
            raise CompositionError(
                part, text.source, f'D={self.embed_dims} text embeddings, '
                f'{text.source} gives D={text.embed_dims}', fix)

    def transfer(self, queries: Tensor, dense_embeds: Tensor) -> Tensor:
        """The official layer: (B, Q, D) queries -> (B, Q, D), not
        normalised."""
        pos = sine_position_embedding(dense_embeds, self.embed_dims // 2)
        # (B, D, h, w) -> (h*w, B, D), sequence-first as official
        value = rearrange(dense_embeds, 'b d h w -> (h w) b d')
        key = value + rearrange(pos, 'b d h w -> (h w) b d').to(value.dtype)
        query = rearrange(queries, 'b q d -> q b d')  # (Q, B, D)
        out, _ = self.attn(query, key, value, need_weights=False)
        out = self.norm(query + self.proj(out))
        return rearrange(out, 'q b d -> b q d')

    def forward(self, text_embeds: Tensor, dense_embeds: Tensor) -> Tensor:
        """Transfer the text embeddings to the image content.

        Args:
            text_embeds: (B or 1, K, D) or (B or 1, K, P, D).
            dense_embeds: (B, D, h, w).

        Returns:
            (B, K, D) or (B, K, P, D) (see the class docstring).
        """
        if dense_embeds.dim() != 4 or dense_embeds.shape[1] != \
                self.embed_dims:
            raise ValueError(
                f'dense_embeds must be (B, D={self.embed_dims}, h, w), got '
                f'{tuple(dense_embeds.shape)}')
        if text_embeds.dim() not in (3, 4) or text_embeds.shape[-1] != \
                self.embed_dims:
            raise ValueError(
                'text_embeds must be (B, K, D) or (B, K, P, D) with '
                f'D={self.embed_dims}, got {tuple(text_embeds.shape)}')
        b = dense_embeds.shape[0]
        if text_embeds.shape[0] not in (1, b):
            raise ValueError(
                f'text_embeds batch {text_embeds.shape[0]} must be 1 or the '
                f'image batch {b}')
        text = text_embeds.expand(b, *text_embeds.shape[1:])
        if text.dim() == 3:
            out = self.transfer(text, dense_embeds)  # (B, K, D)
        elif self.per_template:
            k = text.shape[1]
            # (B, K, P, D) -> (B, K*P, D) -> (B, K, P, D)
            out = self.transfer(text.flatten(1, 2), dense_embeds)
            out = rearrange(out, 'b (k p) d -> b k p d', k=k)
        else:
            # (B, K, P, D) -> (B, K, D): template average, renormalised
            avg = F.normalize(text.mean(dim=2), dim=-1)
            out = self.transfer(avg, dense_embeds)
            # (B, K, D) -> (B, K, P, D): one class embedding per template
            out = out[:, :, None].expand(-1, -1, text.shape[2], -1)
        return F.normalize(out, dim=-1) if self.normalize_output else out
