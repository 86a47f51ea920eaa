"""DPSeg's cost-volume-guided decoder (CVGD), a sibling of SED's decoder.

DPSeg: "Dual-Prompt Cost Volume Learning for Open-Vocabulary Semantic
Segmentation" (Zhao et al., CVPR 2025), Sec. "cost-volume-guided decoder"
and its Table 3. No official code is published; every choice not stated in
the paper is named below.
"""
from typing import Optional, Sequence

import torch.nn as nn
from mmseg.registry import MODELS
from mmseg.utils import ConfigType
from torch import Tensor

from dcp_mm.structures import (CLIPFeatureSpec, CostFeatureSpec, HeadInputs,
                               VisualPrompts)
from ..layers.class_linear_attention import PoolSize
from ..layers.cost_guided_decoder_block import CostGuidedDecoderBlock
from ..layers.visual_prompts import pooled_cosine
from ..utils.arg_checks import check_lengths
from .base_cost_head import (BaseCostHead, check_pyramid_inputs,
                             pyramid_guidance_in_dims)

VISUAL_COST_LEVELS = ('none', 'one', 'three')


@MODELS.register_module()
class DPSegCostGuidedHead(BaseCostHead):
    """Three CVGD stages 1/32 -> 1/16 -> 1/8 -> 1/4 over K categories.

    Paper (DPSeg Sec. "cost-volume-guided decoder"): 3 stages, each a hybrid
    dilated convolution (dilations 1, 2, 4), an MLP, self-attention and a
    x2 transposed convolution (:class:`CostGuidedDecoderBlock`); at stage j
    the visual cost ``F_v^j = cos(E_j(x, y), GAP(V_j)(k, m))`` of the image
    encoder's stage-j features E_j and the visual prompt encoder's pooled
    stage-j features V_j is concatenated with the upsampled features,
    replacing the upsampling of the initial cost volume (which loses
    detail). Table 3: F_c only / + F_v^2 / + F_v^{2,3,4}.

    Reconstruction choices:

    * stages use E_j = res4, res3, res2 (``inter_index`` (2, 1, 0), strides
      16, 8, 4), as SED's guidance;
    * F_v^j (B, K, M, H_j, W_j) has one channel per prompt slot m (M = P
      with the paper's one image per template; M = 8 exemplars in the
      configs, which also keeps the stride-4 cost small), embedded by
      ``ReLU(Conv3x3(M -> c_j))`` shared across categories; empty slots and
      categories without a visual prompt have F_v^j = 0;
    * the image features E_j are also concatenated (SED's detached
      ``ReLU(Conv3x3)`` projections), since the secondary sources say image
      and prompt multi-scale features are both fused;
    * ``visual_cost_levels``: ``'three'`` = all stages, ``'one'`` = the
      res2 stage only (the paper's F_v^2, read as stage j = 2 of the
      encoder), ``'none'`` = no visual cost;
    * ``upsample_cost_instead``: the Table's "upsampling substitute" -
      every stage gets SED's chained ``ReLU(ConvT x2)`` upsampling of the
      initial cost volume instead of a visual cost;
    * training loss: per-pixel BCE of the final logits (``CategoryBCELoss``,
      ignored pixels left out), no auxiliary losses.

    Args:
        in_channels: d, cost-feature channels (128).
        channels: width of the last stage (``decoder_dims[-1]``).
        clip_channels: res5 channels (injected by the segmentor).
        num_templates: channels of the initial cost volume (injected: P, or
            2P for the ``concat_cost`` fusion).
        num_prompt_slots: M, channels of the visual cost (injected by
            ``DPSegEncoderDecoder``: the bank's prompt slots); None =
            num_templates.
        decoder_dims: stage output widths (64, 32, 16).
        guidance_dims: projected image-feature widths (32, 16, 8).
        visual_cost_dims: embedded visual-cost widths (32, 16, 8), also the
            widths of the upsampled cost with ``upsample_cost_instead``.
        guidance_in_dims: widths of E_j; None = (C/2, C/4, C/8) of
            ``clip_channels``.
        inter_index: indices into ``inter_feats`` (and the prompts'
            ``stage_embeds``) of each stage.
        visual_cost_levels: ``'none'``, ``'one'`` or ``'three'``.
        upsample_cost_instead: see above (needs ``visual_cost_levels
            ='none'``).
        dilations: of the hybrid dilated convolutions.
        num_heads, pooling_size, test_pooling_size: class attention.
        detach_guidance: detach E_j (SED's official ``.detach()``) for both
            the projections and the visual costs.
        loss_decode: loss of the final logits.

    Shapes:
        inputs: dict(cost=CostFeatures (cost_embed (B, K, d, h, w),
        cost_volume (B, K, P', h, w)), inter_feats=[(B, C_i, H_i, W_i)],
        selection=CategorySelection, visual=VisualPrompts of the selected
        categories: stage_embeds [(B, K, M, C_i)], valid (B, K, M));
        ``visual`` is needed only with visual costs. Returns
        (B, K, 8h, 8w) logits.

    Raises:
        ValueError: inconsistent dims or options; a missing ``visual`` input.
    """

    uses_visual_prompts = True
    """:class:`DPSegEncoderDecoder` passes ``visual`` and injects
    ``num_prompt_slots``."""

    def __init__(self,
                 *,
                 in_channels: int = 128,
                 channels: int = 16,
                 clip_channels: int = 1024,
                 num_templates: int = 80,
                 num_prompt_slots: Optional[int] = None,
                 decoder_dims: Sequence[int] = (64, 32, 16),
                 guidance_dims: Sequence[int] = (32, 16, 8),
                 visual_cost_dims: Sequence[int] = (32, 16, 8),
                 guidance_in_dims: Optional[Sequence[int]] = None,
                 inter_index: Sequence[int] = (2, 1, 0),
                 visual_cost_levels: str = 'three',
                 upsample_cost_instead: bool = False,
                 dilations: Sequence[int] = (1, 2, 4),
                 num_heads: int = 4,
                 pooling_size: PoolSize = (2, 2),
                 test_pooling_size: Optional[PoolSize] = (1, 1),
                 detach_guidance: bool = True,
                 loss_decode: ConfigType = dict(type='CategoryBCELoss'),
                 **kwargs) -> None:
        n = len(decoder_dims)
        guidance_in_dims = pyramid_guidance_in_dims(clip_channels, n,
                                                    guidance_in_dims)
        check_lengths(
            n,
            'stage of decoder_dims',
            guidance_dims=guidance_dims,
            visual_cost_dims=visual_cost_dims,
            guidance_in_dims=guidance_in_dims,
            inter_index=inter_index)
        if visual_cost_levels not in VISUAL_COST_LEVELS:
            raise ValueError(f'visual_cost_levels must be one of '
                             f'{VISUAL_COST_LEVELS}, got '
                             f'{visual_cost_levels!r}')
        if upsample_cost_instead and visual_cost_levels != 'none':
            raise ValueError(
                'upsample_cost_instead=True replaces the visual costs: set '
                "visual_cost_levels='none' (got "
                f'{visual_cost_levels!r})')
        super().__init__(
            in_channels=in_channels,
            channels=channels,
            num_templates=num_templates,
            loss_decode=loss_decode,
            **kwargs)
        self.num_prompt_slots = num_prompt_slots or num_templates
        self.inter_index = list(inter_index)
        self.visual_cost_levels = visual_cost_levels
        self.upsample_cost_instead = upsample_cost_instead
        self.detach_guidance = detach_guidance
        # stages with a visual cost: 'one' = the last (res2) stage
        self.visual_stages = dict(
            none=[], one=[n - 1], three=list(range(n)))[visual_cost_levels]
        widths = [in_channels] + list(decoder_dims)
        self.guidance_proj = nn.ModuleList([
            nn.Sequential(nn.Conv2d(c_in, g, 3, padding=1), nn.ReLU())
            for c_in, g in zip(guidance_in_dims, guidance_dims)
        ])
        self.visual_cost_embed = nn.ModuleDict({
            str(i):
            nn.Sequential(
                nn.Conv2d(
                    self.num_prompt_slots, visual_cost_dims[i], 3, padding=1),
                nn.ReLU())
            for i in self.visual_stages
        })
        if upsample_cost_instead:
            cost_in = [num_templates] + list(visual_cost_dims[:-1])
            self.cost_up = nn.ModuleList([
                nn.Sequential(
                    nn.ConvTranspose2d(c_in, cg, 2, stride=2), nn.ReLU())
                for c_in, cg in zip(cost_in, visual_cost_dims)
            ])
        else:
            self.cost_up = None
        cost_guidance = [
            visual_cost_dims[i] if
            (upsample_cost_instead or i in self.visual_stages) else 0
            for i in range(n)
        ]
        self.blocks = nn.ModuleList([
            CostGuidedDecoderBlock(
                widths[i],
                widths[i + 1],
                guidance_dims[i],
                cost_guidance[i],
                num_heads=num_heads,
                pooling_size=pooling_size,
                test_pooling_size=test_pooling_size,
                dilations=dilations) for i in range(n)
        ])
        self.conv_seg = nn.Conv2d(widths[-1], 1, 3, padding=1)

    def check_inputs(self, image: CLIPFeatureSpec,
                     cost: Optional[CostFeatureSpec], neck: str) -> None:
        """Needs cost features (d, P') and the backbone pyramid levels of
        ``inter_index`` with the widths of ``guidance_in_dims`` (the visual
        prompts are checked by :class:`DPSegEncoderDecoder`)."""
        check_pyramid_inputs(self, image, cost, neck, self.inter_index,
                             self.guidance_proj)

    def visual_cost(self, stage: int, feats: Tensor,
                    visual: VisualPrompts) -> Tensor:
        """Embedded F_v of one stage.

        Args:
            stage: decoder stage i.
            feats: (B, C_j, H_j, W_j) image features E_j of that stage.
            visual: selected prompts (stage_embeds (B, K, M, C)).

        Returns:
            (B*K, c_i, H_j, W_j).
        """
        level = self.inter_index[stage]
        if level >= len(visual.stage_embeds):
            raise ValueError(f'the visual prompts have '
                             f'{len(visual.stage_embeds)} stage features, '
                             f'stage {stage} needs level {level}')
        prompts = visual.stage_embeds[level]
        if prompts.shape[2] != self.num_prompt_slots:
            raise ValueError(f'built for {self.num_prompt_slots} prompt '
                             f'slots, got {prompts.shape[2]}')
        cost = pooled_cosine(feats, prompts, visual.valid)  # (B, K, M, H, W)
        # (B, K, M, H, W) -> (B*K, M, H, W)
        return self.visual_cost_embed[str(stage)](
            cost.flatten(0, 1).to(feats.dtype))

    def forward(self, inputs: HeadInputs) -> Tensor:
        """:class:`HeadInputs` (with ``visual_prompts``) -> (B, K, 8h, 8w)
        logits."""
        cost, selection = inputs.cost, inputs.selection
        visual = inputs.visual_prompts
        if self.visual_stages and visual is None:
            raise ValueError(
                f'visual_cost_levels={self.visual_cost_levels!r} needs the '
                'visual prompts (inputs.visual_prompts): use '
                'DPSegEncoderDecoder with a visual_prompt_bank, or '
                "visual_cost_levels='none'")
        b, k = cost.cost_embed.shape[:2]
        feats = [inputs.inter_feats[i] for i in self.inter_index]
        if self.detach_guidance:
            feats = [f.detach() for f in feats]
        valid = None if bool(selection.valid.all()) else selection.valid
        x = cost.cost_embed  # (B, K, d, h, w)
        cg = cost.cost_volume  # (B, K, P', h, w)
        for i, block in enumerate(self.blocks):
            guidance = self.guidance_proj[i](feats[i])
            cost_guidance = None
            if self.cost_up is not None:
                # (B, K, c, H, W) -> (B*K, c', 2H, 2W) -> (B, K, c', 2H, 2W)
                cg = self.cost_up[i](cg.flatten(0, 1))
                cost_guidance = cg
                cg = cg.reshape(b, k, *cg.shape[1:])
            elif i in self.visual_stages:
                cost_guidance = self.visual_cost(i, feats[i], visual)
            y = block(x.flatten(0, 1), guidance, cost_guidance, valid)
            # (B*K, c, H, W) -> (B, K, c, H, W)
            x = y.reshape(b, k, *y.shape[1:])
        logits = self.conv_seg(x.flatten(0, 1))
        # (B*K, 1, H, W) -> (B, K, H, W)
        return logits.reshape(b, k, *logits.shape[-2:])
