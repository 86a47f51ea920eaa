"""SED's gradual fusion decoder with category early rejection (CER).

SED (Xie et al., CVPR 2024), official ``sed/modeling/transformer/model.py``
(SED sed/modeling/backbone + open_clip timm_model.py). The cost embedding (7x7
conv P -> 128) is the neck
(``DCPTextGuidedAlignNeck(with_ca=False, with_sa=False)``).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, SampleList
from torch import Tensor

from dcp_mm.structures import (CategorySelection, CLIPFeatureSpec,
                               CostFeatureSpec, HeadInputs)
from ..layers.class_linear_attention import PoolSize
from ..layers.gradual_fusion_block import GradualFusionBlock
from ..utils.arg_checks import check_lengths
from .base_cost_head import (BaseCostHead, attach_selection,
                             check_pyramid_inputs, pyramid_guidance_in_dims)


@MODELS.register_module()
class SEDGradualFusionHead(BaseCostHead):
    """Three gradual fusion stages 24 -> 48 -> 96 -> 192 over K categories.

    Official op order (SED sed/modeling/transformer/model.py):

    * decoder guidance ``g_i = ReLU(Conv3x3(res_{4-i}))`` (backbone stages
      res4 / res3 / res2, widths derived from ``clip_channels`` = res5
      channels as C/2, C/4, C/8 unless ``guidance_in_dims`` is given) to
      ``guidance_dims`` (32, 16, 8). The backbone features are detached
      (``detach_guidance``, official ``.clone().detach()``);
    * cost guidance, chained: ``cg_i = ReLU(ConvT_i(cg_{i-1}))`` with
      ``cg_{-1}`` the cost volume (B*K, P, h, w) (P -> 32 -> 16 -> 8);
    * stage i: auxiliary map ``aux_i = Conv3x3(x.detach())`` -> 1, then
      :class:`GradualFusionBlock` (ConvNeXt k9, linear class attention,
      ConvT x2 to C - g_i, concat g_i and cg_i, double conv) 128 -> 64 ->
      32 -> 16; the final 3x3 conv gives one logit map per category.

    Training returns / supervises the final logits and the three auxiliary
    maps (each with its own BCE, weight 1, as SED's ``loss_sem_seg_{i}``).
    Deviation: ignored pixels are left out of every BCE (``CategoryBCELoss``,
    as CAT-Seg); the official SED loss counts them as negatives for all
    categories.

    Category early rejection (``cer_topk`` = k, inference only): before each
    stage, a category of an image survives if it is among the top-k of the
    image's still-alive categories (by ``aux_i``) at some pixel; only
    survivors go through the stage (so the class attention runs over the
    survivors only, as official). Works per image for any B (the official
    code needs B = 1). Rejected categories get ``rejected_logit`` (-100,
    our logits convention; the official fast path returns probability 0).
    With k >= K nothing is rejected and the result equals the plain path.

    Padded selections (``selection.valid`` False) are masked out of the
    class attention (keys) and never survive CER; their logits are
    meaningless (the loss and the segmentor ignore them).

    Args:
        in_channels: d, cost-feature channels (128).
        channels: width of the last stage (16; default of
            ``decoder_dims[-1]``).
        clip_channels: res5 channels (injected by the segmentor).
        num_templates: P (injected).
        decoder_dims: stage output widths (64, 32, 16).
        guidance_dims: projected backbone-feature widths (32, 16, 8).
        cost_guidance_dims: cost-guidance widths; None = guidance_dims
            (official: always equal).
        guidance_in_dims: input widths of the guidance projections; None =
            (C/2, C/4, C/8) with C = clip_channels.
        inter_index: indices into ``inter_feats`` of the guidance features,
            ((2, 1, 0) = res4, res3, res2).
        kernel_size, num_heads: ConvNeXt kernel (9) and attention heads (4).
        pooling_size, test_pooling_size: class-attention pooling (train
            (2, 2); eval (1, 1) as SED's eval.sh).
        cer_topk: None (off) or k for category early rejection.
        rejected_logit: logit of rejected categories.
        detach_guidance: detach the backbone features (official).
        loss_decode: loss of the final logits (``CategoryBCELoss``).
        aux_loss_decode: loss of each auxiliary map, or None for none.

    Source: SED (Xie et al., CVPR 2024), https://github.com/xb534/SED
    (Apache-2.0 licence), sed/modeling/transformer/model.py.

    Shapes:
        inputs: :class:`~dcp_mm.structures.HeadInputs` with cost_embed
        (B, K, d, h, w), cost_volume (B, K, P, h, w), the pyramid
        ``inter_feats`` [(B, C_i, H_i, W_i)] x 4 (strides 4..32) and the
        selection.
        returns (B, K, 8h, 8w) logits.

    Raises:
        ValueError: inconsistent dims, bad ``cer_topk``; at build time
            :class:`~dcp_mm.structures.CompositionError` without a
            ConvNeXt pyramid or without a neck.
    """

    def __init__(self,
                 *,
                 in_channels: int = 128,
                 channels: int = 16,
                 clip_channels: int = 1024,
                 num_templates: int = 80,
                 decoder_dims: Sequence[int] = (64, 32, 16),
                 guidance_dims: Sequence[int] = (32, 16, 8),
                 cost_guidance_dims: Optional[Sequence[int]] = None,
                 guidance_in_dims: Optional[Sequence[int]] = None,
                 inter_index: Sequence[int] = (2, 1, 0),
                 kernel_size: int = 9,
                 num_heads: int = 4,
                 pooling_size: PoolSize = (2, 2),
                 test_pooling_size: Optional[PoolSize] = (1, 1),
                 cer_topk: Optional[int] = None,
                 rejected_logit: float = -100.0,
                 detach_guidance: bool = True,
                 loss_decode: ConfigType = dict(type='CategoryBCELoss'),
                 aux_loss_decode: Optional[ConfigType] = dict(
                     type='CategoryBCELoss', loss_name='loss_aux'),
                 **kwargs) -> None:
        n = len(decoder_dims)
        cost_guidance_dims = tuple(cost_guidance_dims or guidance_dims)
        guidance_in_dims = pyramid_guidance_in_dims(clip_channels, n,
                                                    guidance_in_dims)
        check_lengths(
            n,
            'stage of decoder_dims',
            guidance_dims=guidance_dims,
            cost_guidance_dims=cost_guidance_dims,
            guidance_in_dims=guidance_in_dims,
            inter_index=inter_index)
        if cer_topk is not None and (not isinstance(cer_topk, int)
                                     or cer_topk < 1):
            raise ValueError(f'cer_topk must be None or a positive int, got '
                             f'{cer_topk!r}')
        super().__init__(
            in_channels=in_channels,
            channels=channels,
            num_templates=num_templates,
            loss_decode=loss_decode,
            **kwargs)
        self.inter_index = list(inter_index)
        self.cer_topk = cer_topk
        self.rejected_logit = rejected_logit
        self.detach_guidance = detach_guidance
        widths = [in_channels] + list(decoder_dims)
        self.guidance_proj = nn.ModuleList([
            nn.Sequential(nn.Conv2d(c_in, g, 3, padding=1), nn.ReLU())
            for c_in, g in zip(guidance_in_dims, guidance_dims)
        ])
        cost_in = [num_templates] + list(cost_guidance_dims[:-1])
        self.cost_up = nn.ModuleList([
            nn.Sequential(
                nn.ConvTranspose2d(c_in, cg, 2, stride=2), nn.ReLU())
            for c_in, cg in zip(cost_in, cost_guidance_dims)
        ])
        self.blocks = nn.ModuleList([
            GradualFusionBlock(
                widths[i],
                widths[i + 1],
                guidance_dims[i],
                cost_guidance_dims[i],
                kernel_size=kernel_size,
                num_heads=num_heads,
                pooling_size=pooling_size,
                test_pooling_size=test_pooling_size) for i in range(n)
        ])
        self.aux_heads = nn.ModuleList(
            [nn.Conv2d(widths[i], 1, 3, padding=1) for i in range(n)])
        self.conv_seg = nn.Conv2d(widths[-1], 1, 3, padding=1)
        self.aux_loss_decode = (
            MODELS.build(aux_loss_decode) if aux_loss_decode else None)

    def check_inputs(self, image: CLIPFeatureSpec,
                     cost: Optional[CostFeatureSpec], neck: str) -> None:
        """Needs cost features (d, P) and the backbone pyramid whose levels
        ``inter_index`` have the widths ``guidance_in_dims``."""
        check_pyramid_inputs(self, image, cost, neck, self.inter_index,
                             self.guidance_proj)

    # ------------------------------------------------------------------ CER
    @staticmethod
    def _survivors(aux: Tensor, alive: Tensor, topk: int) -> Tensor:
        """(B, K, H, W) aux logits -> (B, K) bool: alive and in the per-pixel
        top-k of the alive categories at some pixel."""
        b, k = alive.shape
        k_eff = min(topk, k)
        masked = aux.masked_fill(~alive[:, :, None, None], float('-inf'))
        # (B, k_eff, H, W) -> (B, k_eff, H*W)
        top = masked.topk(k_eff, dim=1).indices.flatten(2)
        hit = torch.zeros(
            b, k, top.shape[-1], dtype=torch.bool, device=aux.device)
        hit.scatter_(1, top, True)
        return hit.any(dim=-1) & alive

    @staticmethod
    def _compact(keep: Tensor, *tensors: Tensor):
        """Gather the kept categories of each image to the front.

        keep: (B, K) bool; tensors: (B, K, ...) each. Returns the new
        (B, K') alive mask, the gather order (B, K') and the gathered
        tensors, K' = max kept per image.
        """
        k_new = max(int(keep.sum(dim=1).max()), 1)
        # stable sort puts kept entries first, in their original order
        order = torch.sort(
            (~keep).to(torch.uint8), dim=1, stable=True).indices[:, :k_new]
        out = []
        for t in tensors:
            idx = order.reshape(*order.shape, *([1] * (t.dim() - 2)))
            out.append(t.gather(1, idx.expand(-1, -1, *t.shape[2:])))
        return keep.gather(1, order), order, out

    # -------------------------------------------------------------- forward
    def _run(self, inputs: HeadInputs, with_aux: bool,
             cer_topk: Optional[int]) -> Tuple[Tensor, List[Tensor]]:
        """Logits (B, K, H', W') and the auxiliary maps (B, K, H_i, W_i)."""
        cost, selection = inputs.cost, inputs.selection
        b, k, _, h, w = cost.cost_embed.shape
        feats = [inputs.inter_feats[i] for i in self.inter_index]
        if self.detach_guidance:
            feats = [f.detach() for f in feats]
        guidance = [proj(f) for proj, f in zip(self.guidance_proj, feats)]
        x = cost.cost_embed  # (B, K, d, h, w)
        cg = cost.cost_volume  # (B, K, P, h, w)
        alive = selection.valid
        position = torch.arange(k, device=x.device).expand(b, k)
        aux_maps = []
        compacted = False  # whether CER removed categories
        for i, block in enumerate(self.blocks):
            kk = x.shape[1]
            if with_aux or cer_topk is not None:
                src = x.flatten(0, 1)  # (B, K', C, H, W) -> (B*K', C, H, W)
                aux = self.aux_heads[i](src.detach())
                aux = aux.reshape(b, kk, *aux.shape[-2:])
                aux_maps.append(aux)
                if cer_topk is not None:
                    keep = self._survivors(aux, alive, cer_topk)
                    if not torch.equal(keep, alive):
                        alive, order, (x, cg, position) = self._compact(
                            keep, x, cg, position)
                        compacted = True
                        kk = x.shape[1]
            # (B, K', c, H, W) -> (B*K', c, 2H, 2W) -> (B, K', c', 2H, 2W)
            cg = self.cost_up[i](cg.flatten(0, 1))
            cg = cg.reshape(b, kk, *cg.shape[1:])
            valid = None if bool(alive.all()) else alive
            y = block(x.flatten(0, 1), guidance[i], cg.flatten(0, 1), valid)
            x = y.reshape(b, kk, *y.shape[1:])
        logits = self.conv_seg(x.flatten(0, 1))
        logits = logits.reshape(b, x.shape[1], *logits.shape[-2:])
        if compacted:
            # survivors back to their K slots; rejected ones get the fill
            survivors = CategorySelection(position, alive)
            logits = survivors.scatter(logits, k, self.rejected_logit)
        return logits, aux_maps

    def forward(self, inputs: HeadInputs) -> Tensor:
        """(B, K, 8h, 8w) logits; CER (if set) in eval mode only."""
        cer = None if self.training else self.cer_topk
        return self._run(inputs, False, cer)[0]

    def forward_with_aux(self,
                         inputs: HeadInputs) -> Tuple[Tensor, List[Tensor]]:
        """Final logits and the 3 auxiliary maps (no CER), for training."""
        return self._run(inputs, True, None)

    # ----------------------------------------------------------------- loss
    def loss(self, inputs: HeadInputs, batch_data_samples: SampleList,
             train_cfg: ConfigType) -> dict:
        """BCE of the final logits plus one BCE per auxiliary map."""
        logits, aux_maps = self.forward_with_aux(inputs)
        attach_selection(batch_data_samples, inputs.selection)
        losses = self.loss_by_feat(logits, batch_data_samples)
        if self.aux_loss_decode is not None:
            label = self._label(batch_data_samples)
            name = self.aux_loss_decode.loss_name
            for i, aux in enumerate(aux_maps):
                losses[f'{name}{i}'] = self._loss_at_label_size(
                    self.aux_loss_decode, aux, label, inputs.selection)
        return losses
