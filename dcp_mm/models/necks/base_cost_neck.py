"""Base class of the cost-feature necks."""
from mmengine.model import BaseModule

from dcp_mm.structures import CLIPFeatureSpec, CostFeatureSpec, TextSpec


class BaseCostNeck(BaseModule):
    """A neck that turns dense image and text embeddings of the K selected
    categories into :class:`~dcp_mm.structures.CostFeatures` (DCP-CLIP's
    TGA, CAT-Seg's aggregation).

    Subclasses set ``embed_dims`` (D), ``num_templates`` (P) and a
    ``cost_embed`` convolution (cost-volume channels -> d), and implement
    ``forward(dense_embeds, text_embeds, selection, ...)``.
    """

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
