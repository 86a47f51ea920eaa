"""Base of the cost heads with CAT-Seg's shallow-guided U-Net decoder."""
from typing import Optional, Sequence

from mmseg.utils import ConfigType
from torch import Tensor

from dcp_mm.structures import HeadInputs
from ..layers.shallow_guidance import build_shallow_guidance, shallow_guidance
from ..layers.upsample_block import UpsampleBlock
from .base_cost_head import BaseCostHead


class ShallowGuidedUpsampleHead(BaseCostHead):
    """A cost head whose decoder layers upsample x2 with CLIP block guidance
    (:class:`CATSegUpsampleHead`, :class:`DCPSpatialEnhancedHead`).

    Decoder layer i (i < ``num_layers``) maps ``widths[i]`` to
    ``widths[i + 1]`` channels (``widths = [in_channels, *decoder_dims]``)
    with an :class:`UpsampleBlock` (:meth:`up_block`); its shallow guidance
    is the ViT block feature ``inter_feats[inter_index[i]]`` lifted to the
    layer's grid (x2, x4, ...) by
    :func:`~dcp_mm.models.layers.shallow_guidance.build_shallow_guidance`
    (ConvTranspose2d C_v -> ``shallow_up_dims[i]``, ReLU(Conv3x3) ->
    ``shallow_dims[i]``; :meth:`layer_guidance`). The base holds these
    arguments with CAT-Seg's ViT-B defaults and checks them; subclasses
    build the shallow guidance (:meth:`build_shallow`, first), their decoder
    layers and ``conv_seg``, and implement the forward.

    Args:
        in_channels: d, channels of the cost feature.
        channels: width of the last decoder layer.
        clip_channels: C_v, width of the ViT block features (injected).
        num_templates: P (injected).
        decoder_dims: output widths of the decoder layers.
        shallow_dims, shallow_up_dims, inter_index: per decoder layer, see
            above (one entry per layer used, or per entry of
            ``decoder_dims`` when the class sets ``all_layer_args``).
        num_layers: decoder layers used, 0 .. len(decoder_dims); None: all.
        loss_decode, **kwargs: :class:`BaseCostHead` arguments.

    Raises:
        ValueError: ``num_layers`` out of range, a per-layer argument of the
            wrong length.
    """

    all_layer_args: bool = False
    """The per-layer arguments need one entry per entry of ``decoder_dims``
    (True), or per decoder layer used (False)."""

    def __init__(self,
                 *,
                 in_channels: int = 128,
                 channels: int = 32,
                 clip_channels: int = 768,
                 num_templates: int = 80,
                 decoder_dims: Sequence[int] = (64, 32),
                 shallow_dims: Sequence[int] = (32, 16),
                 shallow_up_dims: Sequence[int] = (256, 128),
                 num_layers: Optional[int] = None,
                 inter_index: Sequence[int] = (0, 1),
                 loss_decode: ConfigType = dict(type='CategoryBCELoss'),
                 **kwargs) -> None:
        super().__init__(
            in_channels=in_channels,
            channels=channels,
            num_templates=num_templates,
            loss_decode=loss_decode,
            **kwargs)
        n_dec = len(decoder_dims)
        n = n_dec if num_layers is None else num_layers
        if not 0 <= n <= n_dec:
            raise ValueError(f'num_layers must be in [0, {n_dec}], got '
                             f'{num_layers}')
        self.num_layers = n
        self.decoder_dims = tuple(decoder_dims)
        self.check_layer_args(
            shallow_dims=shallow_dims,
            shallow_up_dims=shallow_up_dims,
            inter_index=inter_index)
        self.clip_channels = clip_channels
        self.inter_index = list(inter_index)[:n]
        self.widths = [in_channels] + list(decoder_dims[:n])
        self.shallow_dims = list(shallow_dims)[:n]
        self.shallow_up_dims = list(shallow_up_dims)[:n]

    def build_shallow(self, fuse_shallow_up: bool = True) -> None:
        """Build the shallow guidance ``shallow_up`` and ``shallow_proj`` of
        the ``num_layers`` decoder layers (x2, x4, ... of the patch grid,
        CAT-Seg), or, without ``fuse_shallow_up``, empty lists: the decoder
        layers then get no shallow guidance (:meth:`up_block`)."""
        self.fuse_shallow_up = fuse_shallow_up
        self.shallow_up, self.shallow_proj = build_shallow_guidance(
            self.clip_channels, self.shallow_up_dims, self.shallow_dims,
            self.num_layers if fuse_shallow_up else 0)

    def check_layer_args(self, **seqs: Sequence) -> None:
        """Refuse per-layer arguments of the wrong length (see
        :attr:`all_layer_args`).

        Raises:
            ValueError: naming the argument.
        """
        n = len(self.decoder_dims) if self.all_layer_args else self.num_layers
        for name, seq in seqs.items():
            if len(seq) < n or (self.all_layer_args and len(seq) != n):
                raise ValueError(f'{name} needs {n} entries (one per '
                                 f'decoder layer), got {list(seq)}')

    def up_block(self, i: int, extra_guidance: int = 0) -> UpsampleBlock:
        """Decoder layer i's :class:`UpsampleBlock` (``widths[i]`` ->
        ``widths[i + 1]``), fed its shallow guidance (if fused) and
        ``extra_guidance`` more channels."""
        shallow = self.shallow_dims[i] if self.fuse_shallow_up else 0
        return UpsampleBlock(self.widths[i], self.widths[i + 1],
                             shallow + extra_guidance)

    def layer_guidance(self, inputs: HeadInputs, i: int, k: int) -> Tensor:
        """Decoder layer i's shallow guidance: ``inter_feats[inter_index[i]]``
        (B, C_v, h, w) -> (B*K, shallow_dims[i], 2^(i+1) h, 2^(i+1) w),
        repeated over the K categories of each image."""
        return shallow_guidance(self.shallow_up[i], self.shallow_proj[i],
                                inputs.inter_feats[self.inter_index[i]], k)
