"""Base class of the cost-feature necks."""
from typing import Optional

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from dcp_mm.structures import (CategorySelection, CLIPFeatureSpec,
                               CostFeatures, CostFeatureSpec, TextSpec)
from ..layers.dual_prompt_cost import (check_fusion, cost_channels,
                                       dual_prompt_cost_volume)
from ..utils.arg_checks import check_positive_ints


class BaseCostNeck(BaseModule):
    """A neck that turns dense image and text embeddings of the K selected
    categories into :class:`~dcp_mm.structures.CostFeatures` (DCP-CLIP's
    TGA, CAT-Seg's aggregation).

    The base sets ``embed_dims`` (D), ``num_templates`` (P) and the cost
    volume's ``fusion`` (DPSeg's dual-prompt cost, ``'text_only'`` by
    default), builds the ``cost_embed`` convolution (7x7, cost-volume
    channels -> d, CAT-Seg) and runs the steps every neck shares
    (:meth:`forward`): input checks, cost volume, its embedding. Subclasses
    implement the aggregation of the embedded cost (:meth:`aggregate`).

    Args:
        embed_dims: D; num_templates: P (both injected by the segmentor);
        cost_dims: d; fusion: see
            :func:`~dcp_mm.models.layers.dual_prompt_cost.check_fusion`.

    Raises:
        ValueError: non-positive sizes, unknown ``fusion``.
    """

    synonym_max: bool = False
    """True: the text embeddings hold S synonyms in place of the P
    templates (any S accepted) and the cost volume is the max over them,
    (B, K, 1, h, w) (:class:`DCPTextGuidedAlignNeck`)."""

    def __init__(self, embed_dims: int, num_templates: int, cost_dims: int,
                 fusion: str, init_cfg: Optional[dict]) -> None:
        super().__init__(init_cfg=init_cfg)
        check_positive_ints(
            embed_dims=embed_dims,
            num_templates=num_templates,
            cost_dims=cost_dims)
        self.fusion = check_fusion(fusion)
        self.embed_dims = embed_dims
        self.num_templates = num_templates
        self.cost_embed = nn.Conv2d(
            cost_channels(fusion, num_templates), cost_dims, 7, padding=3)

    @property
    def cost_spec(self) -> CostFeatureSpec:
        """The sizes (d, P) of the :class:`CostFeatures` this neck gives (P:
        the cost-volume channels, 2P with ``fusion='concat_cost'``)."""
        return CostFeatureSpec(f'neck {type(self).__name__}',
                               self.cost_embed.out_channels,
                               self.cost_embed.in_channels)

    def check_inputs(self, image: CLIPFeatureSpec, text: TextSpec) -> None:
        """Needs D-dim dense and text embeddings (the neck was built for
        ``embed_dims``) and P = ``num_templates`` templates.

        Raises:
            CompositionError: naming this neck and the part at fault.
        """
        part = f'neck {type(self).__name__}'
        image.require_embed_dims(part, self.embed_dims,
                                 'leave neck.embed_dims to the segmentor')
        text.require(part, self.embed_dims, self.num_templates)

    def forward(self,
                dense_embeds: Tensor,
                text_embeds: Tensor,
                selection: CategorySelection,
                visual_embeds: Optional[Tensor] = None,
                has_visual: Optional[Tensor] = None) -> CostFeatures:
        """Cost volume ``C = cos(F, E)`` per template (of the text, or of
        text and visual prompts as ``fusion`` says), embedded by
        ``cost_embed`` and aggregated by :meth:`aggregate`.

        Shapes:
            dense_embeds: (B, D, h, w); text_embeds: (B, K, P, D)
            (P = ``num_templates``; any P, the synonyms, with
            ``synonym_max``); selection: valid (B, K); visual_embeds
            (B, K, P, D) and has_visual (B, K) for fusions other than
            ``'text_only'``. Returns :class:`CostFeatures` with cost_embed
            (B, K, d, h, w) and cost_volume (B, K, P', h, w) in [-1, 1]
            (P' = 2P for ``'concat_cost'``, 1 with ``synonym_max``).

        Raises:
            ValueError: text_embeds not (B, K, P, D) with the built P, a
                selection of another (B, K), or what
                :func:`~dcp_mm.models.layers.dual_prompt_cost.
                dual_prompt_cost_volume` raises.
        """
        if text_embeds.dim() != 4 or (text_embeds.shape[2]
                                      != self.num_templates
                                      and not self.synonym_max):
            raise ValueError(
                f'built for P={self.num_templates} templates: expected '
                f'text_embeds (B, K, P, D), got {tuple(text_embeds.shape)}')
        b, k = text_embeds.shape[:2]
        if selection.valid.shape != (b, k):
            raise ValueError(f'selection {tuple(selection.valid.shape)} does '
                             f'not match the text embeddings (B={b}, K={k})')
        cost_volume = dual_prompt_cost_volume(dense_embeds, text_embeds,
                                              visual_embeds, has_visual,
                                              self.fusion)
        if self.synonym_max:
            # (B, K, S, h, w) -> (B, K, 1, h, w): best synonym per pixel
            cost_volume = cost_volume.amax(dim=2, keepdim=True)
        # (B, K, P, h, w) -> (B*K, P, h, w) -> (B*K, d, h, w)
        cost = self.cost_embed(cost_volume.flatten(0, 1))
        return CostFeatures(
            cost_embed=self.aggregate(cost, dense_embeds, text_embeds,
                                      selection),
            cost_volume=cost_volume)

    def aggregate(self, cost: Tensor, dense_embeds: Tensor,
                  text_embeds: Tensor, selection: CategorySelection) -> Tensor:
        """The neck's own step: the embedded cost aggregated with the image
        and text embeddings.

        Shapes:
            cost: (B*K, d, h, w) embedded cost volume; dense_embeds,
            text_embeds, selection: as :meth:`forward`'s. Returns
            (B, K, d, h, w).
        """
        raise NotImplementedError
