"""Base class of the cost-feature necks."""
from typing import Optional

from mmengine.model import BaseModule

from dcp_mm.structures import CLIPFeatureSpec, CostFeatureSpec, TextSpec
from ..layers.dual_prompt_cost import check_fusion
from ..utils.arg_checks import check_positive_ints


class BaseCostNeck(BaseModule):
    """A neck that turns dense image and text embeddings of the K selected
    categories into :class:`~dcp_mm.structures.CostFeatures` (DCP-CLIP's
    TGA, CAT-Seg's aggregation).

    The base sets ``embed_dims`` (D), ``num_templates`` (P) and the cost
    volume's ``fusion`` (DPSeg's dual-prompt cost, ``'text_only'`` by
    default); subclasses build a ``cost_embed`` convolution (cost-volume
    channels -> d) and implement ``forward(dense_embeds, text_embeds,
    selection, ...)``.

    Args:
        embed_dims: D; num_templates: P (both injected by the segmentor);
        cost_dims: d; fusion: see
            :func:`~dcp_mm.models.layers.dual_prompt_cost.check_fusion`.

    Raises:
        ValueError: non-positive sizes, unknown ``fusion``.
    """

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
