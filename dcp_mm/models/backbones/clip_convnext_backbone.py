"""OpenCLIP ConvNeXt image encoder with a dense joint-space output (SED)."""
from typing import List, Optional

from einops import rearrange
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from open_clip.timm_model import TimmModel
from torch import Tensor

from dcp_mm.structures import CLIPFeatureSpec, CLIPImageFeatures
from ..clip.builder import apply_finetune, build_clip_model

CONVNEXT_FINETUNE_MODES = ('frozen', 'full', 'stem+stages')
TRUNK_BODY = ('trunk.stem.', 'trunk.stages.', 'trunk.norm_pre.')
"""Parameter-name prefixes of ``visual`` trained by ``'stem+stages'``."""


@MODELS.register_module()
class CLIPConvNeXtBackbone(BaseModule):
    """open_clip ConvNeXt CLIP image tower (SED, Xie et al. CVPR 2024).

    ``stem`` then the four stages; their raw outputs are ``inter_feats``
    [res2 (stride 4), res3 (8), res4 (16), res5 (32)]. The dense embedding
    is SED's ``clip_vis_dense`` (SED sed/modeling/backbone + open_clip
    timm_model.py): every pixel of res5
    (after the trunk's ``norm_pre``, an identity for these models) goes
    through the trunk head (pooling a 1 x 1 map is the identity, then
    LayerNorm2d eps 1e-6, flatten) and the CLIP head (``head.proj``, Linear
    without bias, or ``head.mlp`` for ConvNeXt-L), giving (B, D, h, w). The
    [CLS]-like image embedding is the ordinary CLIP image embedding (global
    average pool, norm, head).

    Args:
        model_name: open_clip ConvNeXt CLIP (``'convnext_base_w_320'`` for
            SED-B, ``'convnext_large_d_320'`` for SED-L) or
            ``'dcp-tiny-convnext'`` (tests).
        pretrained: CLIP weights (the segmentor injects
            ``model.pretrained``), see ``build_clip_model``; None = random.
        finetune: ``'full'`` (SED: every visual parameter trains),
            ``'frozen'``, or ``'stem+stages'`` (MAFT+,
            github.com/jiaosiyu1999/MAFT-Plus ``maft/maft_plus.py``: the
            trunk's stem, stages and ``norm_pre`` train; the trunk head norm
            and the CLIP projection head stay frozen, so the joint embedding
            space is kept).
        quick_gelu: activation of the (discarded) text tower's MLPs, passed
            to ``build_clip_model``; the ConvNeXt tower is unaffected.
        init_cfg: mmengine init config.

    Attributes:
        visual: open_clip ``TimmModel`` (``trunk`` = timm ConvNeXt,
            ``head``). embed_dims: D. width: channels of res5.
        stage_channels: channels of res2..res5. reduction: stride of res5.

    Raises:
        ValueError: bad ``finetune`` or a model that is not a timm ConvNeXt.
    """

    def __init__(self,
                 *,
                 model_name: str = 'convnext_base_w_320',
                 pretrained: Optional[str] = None,
                 finetune: str = 'full',
                 quick_gelu: Optional[bool] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if finetune not in CONVNEXT_FINETUNE_MODES:
            raise ValueError(f'finetune must be one of '
                             f'{CONVNEXT_FINETUNE_MODES} for a ConvNeXt '
                             f'tower, got {finetune!r}')
        clip = build_clip_model(model_name, pretrained, quick_gelu)
        visual = clip.visual
        trunk = getattr(visual, 'trunk', None)
        if not isinstance(visual, TimmModel) or not all(
                hasattr(trunk, n)
                for n in ('stem', 'stages', 'norm_pre', 'head')):
            raise ValueError(
                f'{model_name} is not an open_clip timm ConvNeXt CLIP '
                '(expected visual.trunk with stem / stages / head); use '
                'CLIPViTBackbone for ViT towers.')
        stages = [
            f for f in trunk.feature_info if f['module'].startswith('stages')
        ]
        self.visual = visual
        self.model_name = model_name
        self.finetune = finetune
        self.stage_channels: List[int] = [f['num_chs'] for f in stages]
        self.reduction = int(stages[-1]['reduction'])
        self.width = self.stage_channels[-1]
        self.embed_dims = int(clip.text_projection.shape[-1])
        if finetune == 'stem+stages':
            apply_finetune(self.visual, 'frozen')
            self.trainable_names = []
            for name, param in self.visual.named_parameters():
                if name.startswith(TRUNK_BODY):
                    param.requires_grad_(True)
                    self.trainable_names.append(name)
        else:
            self.trainable_names = apply_finetune(self.visual, finetune)

    @property
    def feature_spec(self) -> CLIPFeatureSpec:
        """What :meth:`forward` returns: D-dim embeddings and the stage
        pyramid (no ViT block features, no attention map)."""
        return CLIPFeatureSpec(f'backbone {type(self).__name__}',
                               self.embed_dims, 'pyramid',
                               tuple(self.stage_channels), False)

    def _head(self, x: Tensor) -> Tensor:
        """(M, C, h', w') -> (M, D): trunk head (pool, norm) + CLIP head."""
        return self.visual.head(self.visual.trunk.forward_head(x))

    def forward(self, img: Tensor) -> CLIPImageFeatures:
        """Encode images.

        Args:
            img: (B, 3, H, W) CLIP-normalised, H and W multiples of 32.

        Returns:
            :class:`CLIPImageFeatures`: cls_embed (B, D), dense_embeds
            (B, D, H/32, W/32) (not normalised), inter_feats [res2 (B, C2,
            H/4, W/4), res3, res4, res5 (B, C5, H/32, W/32)], attn None,
            last_feats (B, C5, H/32, W/32) (res5 after ``norm_pre``).

        Raises:
            ValueError: wrong input shape or size.
        """
        if img.dim() != 4 or img.shape[1] != 3:
            raise ValueError('CLIPConvNeXtBackbone expects images (B, 3, H, '
                             f'W), got {tuple(img.shape)}')
        if img.shape[-2] % self.reduction or img.shape[-1] % self.reduction:
            raise ValueError(
                f'image size {tuple(img.shape[-2:])} is not a multiple of '
                f'{self.reduction}: resize or pad the input (crop size or '
                'data_preprocessor size_divisor).')
        trunk = self.visual.trunk
        x = trunk.stem(img)
        inter = []
        for stage in trunk.stages:
            x = stage(x)
            inter.append(x)
        x = trunk.norm_pre(x)
        b, _, h, w = x.shape
        cls_embed = self._head(x)
        # per pixel: (B, C, h, w) -> (B*h*w, C, 1, 1)
        pixels = rearrange(x, 'b c h w -> (b h w) c 1 1')
        dense = self._head(pixels)
        # (B*h*w, D) -> (B, D, h, w)
        dense = rearrange(dense, '(b h w) d -> b d h w', b=b, h=h, w=w)
        return CLIPImageFeatures(cls_embed, dense, inter, None, x)
