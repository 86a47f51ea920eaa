"""CAT-Seg's upsampling decoder (official ``Aggregator`` steps 5 and 8)."""
from typing import Dict

from mmseg.registry import MODELS

from .spatial_enhanced_head import DCPSpatialEnhancedHead


@MODELS.register_module()
class CATSegUpsampleHead(DCPSpatialEnhancedHead):
    """CAT-Seg decoder = DCP-CLIP's decoder without its additions.

    :class:`DCPSpatialEnhancedHead` with ``spatial_enhance=False``,
    ``fuse_cost=False`` and ``fuse_attn=False`` computes exactly CAT-Seg's
    decoder (OFFICIAL-HEADS.md 2, 4.5, 4.8): the CLIP block outputs
    ``inter_feats`` (blocks 4 / 8 for ViT-B, 8 / 16 for ViT-L, 1-based) are
    upsampled by ``ConvTranspose2d`` to 256 ch at x2 (k2 s2) and 128 ch at
    x4 (k4 s4) (official ``upsample1/2``), projected by ``ReLU(Conv3x3)`` to
    32 / 16 ch (``decoder_guidance_projection``), and two
    :class:`UpsampleBlock` (ConvT x2 to C - G, concat the guidance repeated
    over K, 2 x conv3x3-GN(out // 16)-ReLU; 128 -> 64 -> 32) are followed by
    a 3x3 conv to one logit map per category. This subclass only sets those
    switches and CAT-Seg's widths as defaults.

    Args:
        see :class:`DCPSpatialEnhancedHead`; ``spatial_enhance``,
        ``fuse_cost`` and ``fuse_attn`` must stay False (use
        ``DCPSpatialEnhancedHead`` for them), ``fuse_shallow_up`` True,
        ``fuse_shallow_qk`` False.

    Shapes:
        inputs: dict(cost=CostFeatures (B, K, 128, h, w), inter_feats=
        [(B, C_v, h, w)] x 2, attn=ignored, selection=...);
        returns (B, K, 4h, 4w) logits.

    Raises:
        ValueError: one of the DCP-CLIP switches is turned on.
    """

    # tensor contract: the ViT block features are always fused (no
    # head-side alternative)
    contract_hints: Dict[str, str] = {}

    def __init__(self, **kwargs) -> None:
        fixed = dict(
            spatial_enhance=False,
            fuse_cost=False,
            fuse_attn=False,
            fuse_shallow_qk=False,
            fuse_shallow_up=True)
        wrong = {
            k: kwargs[k]
            for k in fixed if k in kwargs and kwargs[k] != fixed[k]
        }
        if wrong:
            raise ValueError(
                f'CATSegUpsampleHead is CAT-Seg\'s decoder: {wrong} is not '
                f'available (needs {fixed}); use DCPSpatialEnhancedHead for '
                'the DCP-CLIP variants.')
        kwargs.update(fixed)
        kwargs.setdefault('in_channels', 128)
        kwargs.setdefault('channels', 32)
        kwargs.setdefault('decoder_dims', (64, 32))
        kwargs.setdefault('shallow_dims', (32, 16))
        kwargs.setdefault('shallow_up_dims', (256, 128))
        kwargs.setdefault('cost_guidance_dims', (32, 16))  # unused
        kwargs.setdefault('num_layers', 2)
        super().__init__(**kwargs)
