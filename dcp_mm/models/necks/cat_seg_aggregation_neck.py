"""CAT-Seg cost aggregation (Cho et al., CVPR 2024) as a cost-feature neck."""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from dcp_mm.structures import CategorySelection
from ..layers.cat_seg_aggregation_layer import CATSegAggregationLayer
from ..layers.class_linear_attention import PoolSize
from ..utils.arg_checks import check_positive_ints
from .base_cost_neck import BaseCostNeck


@MODELS.register_module()
class CATSegAggregationNeck(BaseCostNeck):
    """Cost volume, embedding and CAT-Seg's spatial + class aggregation.

    Official ``Aggregator.forward`` steps 1, 3, 4, 6 and 7
    (CAT-Seg cat_seg/modeling/transformer/model.py; the decoder guidance
    projections of step 5 and
    the upsampling decoder of step 8 are :class:`CATSegUpsampleHead`, the
    pruning of step 2 is :class:`CATSegClassPruning`):

    1. ``C = cos(F, E)`` per template, (B, K, P, h, w)
       (:func:`cosine_cost_volume`);
    3. ``x = Conv7x7(C)`` P -> d per category;
    4. appearance guidance ``ReLU(Conv3x3(F))`` D -> G_a (raw, not
       normalised, dense embeddings);
    6. text guidance: mean of E over templates, divided by its norm (plain
       division, no eps, as official), ``ReLU(Linear)`` D -> G_t;
    7. ``num_layers`` x :class:`CATSegAggregationLayer` (two guided Swin
       blocks, window 12 / shift 6, then linear attention across categories
       with G_t in Q/K, learnable padding tokens up to ``pad_len``).

    Padded selections (``selection.valid`` False): the spatial steps are
    per category; in the class attention an invalid slot is replaced by the
    padding token, so each image sees its K_b real categories plus
    ``pad_len - K_b`` padding tokens exactly as an unbatched official run
    (see :mod:`~dcp_mm.models.layers.class_linear_attention`). With
    K > ``pad_len`` (no pruning) no padding tokens are appended; the official
    model always prunes to ``pad_len`` first.

    Pooling: the official code has no train / eval switch; it trains with
    ``POOLING_SIZES [2, 2]`` and its eval script rebuilds the model with
    ``[1, 1]``. Here ``pooling_size`` is used in training and
    ``test_pooling_size`` (None = same as training) in eval mode, so
    ``pooling_size=(2, 2), test_pooling_size=(1, 1)`` reproduces
    train.sh + eval.sh in one config; to evaluate exactly like a model built
    with ``[2, 2]`` set ``test_pooling_size=None``.

    Args:
        embed_dims: D (injected by the segmentor).
        num_templates: P (injected by the segmentor).
        cost_dims: d, hidden width (128).
        appearance_dims: G_a (128).
        text_guidance_dims: G_t (128).
        num_layers: aggregation layers (2).
        num_heads: heads of all attentions (4).
        window_size: Swin window (12 on the 24 x 24 grid).
        pooling_size, test_pooling_size: class-attention pooling.
        pad_len: categories padded to this many tokens (256).
        fusion: cost of text and visual prompts, as
            :class:`DCPTextGuidedAlignNeck`'s ``fusion`` (DPSeg's
            dual-prompt cost; ``'text_only'`` by default).

    Shapes:
        dense_embeds: (B, D, h, w) joint-space patch embeddings;
        text_embeds: (B, K, P, D) L2-normalised; selection: its ``valid``
        (B, K) is used. Returns :class:`CostFeatures` with cost_embed
        (B, K, d, h, w) (aggregated) and cost_volume (B, K, P, h, w) in
        [-1, 1].

    Raises:
        ValueError: bad sizes at construction; P or D mismatch at forward.
    """

    def __init__(self,
                 *,
                 embed_dims: int,
                 num_templates: int,
                 cost_dims: int = 128,
                 appearance_dims: int = 128,
                 text_guidance_dims: int = 128,
                 num_layers: int = 2,
                 num_heads: int = 4,
                 window_size: int = 12,
                 pooling_size: PoolSize = (2, 2),
                 test_pooling_size: Optional[PoolSize] = (1, 1),
                 pad_len: int = 256,
                 fusion: str = 'text_only',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(embed_dims, num_templates, cost_dims, fusion,
                         init_cfg)
        check_positive_ints(
            appearance_dims=appearance_dims,
            text_guidance_dims=text_guidance_dims,
            num_heads=num_heads,
            window_size=window_size)
        if not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(f'num_layers must be an int >= 0, got '
                             f'{num_layers!r}')
        if cost_dims % num_heads:
            raise ValueError(f'cost_dims ({cost_dims}) must divide by '
                             f'num_heads ({num_heads})')
        self.appearance_proj = nn.Conv2d(
            embed_dims, appearance_dims, 3, padding=1)
        self.text_guidance_proj = nn.Linear(embed_dims, text_guidance_dims)
        self.layers = nn.ModuleList([
            CATSegAggregationLayer(
                cost_dims,
                appearance_dims,
                text_guidance_dims,
                num_heads,
                window_size,
                pooling_size=pooling_size,
                test_pooling_size=test_pooling_size,
                pad_len=pad_len) for _ in range(num_layers)
        ])

    def text_guidance(self, text_embeds: Tensor) -> Tensor:
        """Step 6: (B, K, P, D) -> (B, K, G_t), ReLU'd."""
        t = text_embeds.mean(dim=2)
        t = t / t.norm(dim=-1, keepdim=True)
        return F.relu(self.text_guidance_proj(t))

    def aggregate(self, cost: Tensor, dense_embeds: Tensor,
                  text_embeds: Tensor, selection: CategorySelection) -> Tensor:
        """Steps 4, 6 and 7: (B*K, d, h, w) embedded cost -> aggregated
        (B, K, d, h, w); invalid selection slots become padding tokens in
        the class attention."""
        b, k = text_embeds.shape[:2]
        # (B*K, d, h, w) -> (B, K, d, h, w)
        x = cost.reshape(b, k, *cost.shape[1:])
        appearance = F.relu(self.appearance_proj(dense_embeds))
        text_g = self.text_guidance(text_embeds)
        valid = None if bool(selection.valid.all()) else selection.valid
        for layer in self.layers:
            x = layer(x, appearance, text_g, valid)
        return x
