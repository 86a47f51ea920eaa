"""SAN whose head classifies only the categories DCP-CLIP's DCS selects."""
from typing import List, Optional, Tuple

import torch
from mmseg.models.segmentors import MultimodalEncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import (ConfigType, OptSampleList, SampleList, add_prefix,
                         seg_data_to_instance_data)
from torch import Tensor

from dcp_mm.models.utils.vocabulary import check_label_values
from dcp_mm.structures import CategorySelection
from .san_clip_embeddings import (DENSE_MODES, san_class_names,
                                  san_clip_embeds, san_clip_inputs)


def scatter_selected_logits(logits: Tensor, union: Tensor,
                            selection: CategorySelection, num_classes: int,
                            fill: float) -> Tensor:
    """Mask-class logits of the batch's union -> the full vocabulary.

    Each image keeps the logits of ITS OWN selected categories; every other
    category (including those only other images selected) gets ``fill``,
    as dcp_mm's ``CategorySelection.scatter`` does with
    ``unselected_logit``. The last column (SAN's "no object" class) is kept.

    Args:
        logits: (B, Q, K_u + 1) logits over ``union`` + background.
        union: (K_u,) ascending vocabulary indices (the batch's union).
        selection: per-image selection, indices / valid (B, K), each valid
            index in ``union``.
        num_classes: T.
        fill: logit of the categories an image did not select.

    Returns:
        (B, Q, T + 1) logits, background last.
    """
    b, q, k_u1 = logits.shape
    assert k_u1 == union.numel() + 1, \
        f'logits have {k_u1} classes for a union of {union.numel()} + bg'
    pos = torch.searchsorted(union, selection.indices.contiguous())  # (B, K)
    # (B, Q, K_u + 1) -> (B, Q, K): each image's own selected columns
    picked = logits.gather(2, pos[:, None, :].expand(-1, q, -1))
    # (B, Q, K) -> (B, K, Q) -> (B, T, Q) -> (B, Q, T)
    full = selection.scatter(picked.transpose(1, 2), num_classes,
                             fill).transpose(1, 2)
    return torch.cat([full, logits[..., -1:]], dim=-1)


@MODELS.register_module()
class SANWithCategorySelection(MultimodalEncoderDecoder):
    """mmseg's SAN with DCP-CLIP's Dynamic Category Selection before the head.

    Data flow (each step mmseg's or dcp_mm's own code)::

        image -> image_encoder (SAN) -> clip_feature
        clip_feature[-1] -> san_clip_embeds -> cls (B, D), dense (B, D, h, w)
        text_encoder (SAN) -> (T + 1, D) scaled embeddings, bg last
        selector (DCPCategorySelector) -> CategorySelection (B, K)
        union U (K_u,) of the batch's selections; head text = E[U] + bg
        decode_head.forward (SAN) -> mask proposals, logits (B, Q, K_u + 1)
        scatter_selected_logits -> (B, Q, T + 1), non-selected = fill
        training: decode_head.loss_by_feat (SAN's matching and losses)
        inference: decode_head.predict_by_feat (SAN) -> (B, T, H, W)

    The head classifies only the selected categories: one shared einsum
    with the union's text embeddings (SAN's head takes one (N, D) class
    matrix for the batch), then per-image masks in the scatter, so every
    image competes only among its own K_b categories + background, which
    equals padding per image (``pad_selections``) without changing SAN's
    head. Non-selected logits are ``unselected_logit`` constants (no
    gradient): their softmax probability is at most
    ``exp(unselected_logit - max logit)`` (< 4e-44 for -100), so SAN's
    classification loss (cross-entropy over T + 1 with its
    ``class_weight``) and matching costs are those over the selected
    categories up to that term, and at inference their ``seg_logits`` are
    that small (never the argmax). In training the selector adds each
    image's ground-truth categories (``add_gt_in_training``).

    Args:
        selector: category selector config (``DCPCategorySelector``).
        unselected_logit: class logit of the categories not selected; must
            be finite (-100, as dcp_mm; SAN's logits are at most
            ``exp(logit_scale)`` = 100 for CLIP).
        dense_mode: dense CLIP path for the selector, see
            :func:`~projects.san_dcp.san_dcp.san_clip_embeds`.
        **kwargs: ``MultimodalEncoderDecoder`` arguments (SAN's config); the
            text encoder must append the background embedding
            (``cat_bg=True``, as SAN).

    Raises:
        ValueError: no selector, non-finite ``unselected_logit``, unknown
            ``dense_mode``, ``cat_bg=False``, or training labels outside the
            vocabulary.
    """

    def __init__(self,
                 *,
                 selector: Optional[ConfigType] = None,
                 unselected_logit: float = -100.0,
                 dense_mode: str = 'maskclip',
                 **kwargs) -> None:
        if selector is None:
            raise ValueError(
                'SANWithCategorySelection needs model.selector, e.g. '
                "dict(type='DCPCategorySelector'); use "
                'MultimodalEncoderDecoder for plain SAN.')
        if not torch.isfinite(torch.tensor(float(unselected_logit))):
            raise ValueError('unselected_logit must be finite, got '
                             f'{unselected_logit}')
        if dense_mode not in DENSE_MODES:
            raise ValueError(f'dense_mode must be one of {DENSE_MODES}, got '
                             f'{dense_mode!r}')
        super().__init__(**kwargs)
        if not self.text_encoder.cat_bg:
            raise ValueError('SANWithCategorySelection needs the text '
                             'encoder to append the background embedding '
                             '(text_encoder.cat_bg=True, as SAN).')
        self.selector = MODELS.build(selector)
        self.unselected_logit = float(unselected_logit)
        self.dense_mode = dense_mode

    # (B, 3, H, W) -> the image encoder's input, as SAN's encode_decode
    clip_inputs = san_clip_inputs

    def select(
            self,
            clip_feature: List,
            class_embeds: Tensor,
            gt_categories: Optional[List[Tensor]] = None) -> CategorySelection:
        """Run the selector on SAN's CLIP embeddings.

        Args:
            clip_feature: the image encoder's outputs (SAN).
            class_embeds: (T + 1, D) text encoder output, bg last.
            gt_categories: B tensors of label values (training), or None.

        Returns:
            CategorySelection, indices / valid (B, K).
        """
        cls_embed, dense = san_clip_embeds(self.decode_head.rec_with_attnbias,
                                           clip_feature[-1], self.dense_mode)
        text = class_embeds[:-1]  # (T, D); the selector L2-normalises
        return self.selector(cls_embed, dense, text, gt_categories)

    def decode(
        self,
        inputs: Tensor,
        deep_supervision_idxs: List[int],
        gt_categories: Optional[List[Tensor]] = None
    ) -> Tuple[List[Tensor], List[Tensor], CategorySelection]:
        """Encoder, selector and SAN head on the selected categories.

        Args:
            inputs: (B, 3, H, W) images.
            deep_supervision_idxs: SAN head's (``[]`` at inference).
            gt_categories: B tensors of label values (training), or None.

        Returns:
            mask proposals [(B, Q, h', w')], full-vocabulary mask-class
            logits [(B, Q, T + 1)] (one per decoder output), and the
            selection (B, K).
        """
        clip_feature = self.image_encoder(self.clip_inputs(inputs))
        class_embeds = self.text_encoder()  # (T + 1, D), bg last
        t = class_embeds.shape[0] - 1
        selection = self.select(clip_feature, class_embeds, gt_categories)
        union = torch.unique(selection.indices[selection.valid])  # (K_u,)
        # (K_u + 1, D): the selected categories' embeddings and bg
        head_embeds = torch.cat([class_embeds[union], class_embeds[-1:]])
        mask_props, mask_logits = self.decode_head.forward(
            [inputs, clip_feature, head_embeds], deep_supervision_idxs)
        mask_logits = [
            scatter_selected_logits(x, union, selection, t,
                                    self.unselected_logit) for x in mask_logits
        ]
        return mask_props, mask_logits, selection

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """(B, 3, H, W) -> SAN scores (B, T, H, W); ~0 for non-selected."""
        mask_props, mask_logits, _ = self.decode(inputs, [])
        return self.decode_head.predict_by_feat(
            [mask_props[-1], mask_logits[-1]], batch_img_metas)

    def _gt_categories(self, data_samples: SampleList,
                       num_classes: int) -> List[Tensor]:
        """Label values per image (SAN's own conversion), range-checked."""
        instances = seg_data_to_instance_data(self.decode_head.ignore_index,
                                              data_samples)
        cats = []
        for ds, inst in zip(data_samples, instances):
            labels = inst.labels.long()
            check_label_values(labels, num_classes,
                               self.decode_head.ignore_index,
                               ds.metainfo.get('seg_map_path', 'a label map'))
            cats.append(labels)
        return cats

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """SAN's losses over each image's selected categories (+ bg)."""
        t = len(san_class_names(self.text_encoder))
        gt = self._gt_categories(data_samples, t)
        mask_props, mask_logits, selection = self.decode(
            inputs, self.decode_head.deep_supervision_idxs, gt)
        instances = seg_data_to_instance_data(self.decode_head.ignore_index,
                                              data_samples)
        losses = add_prefix(
            self.decode_head.loss_by_feat(mask_logits, mask_props, instances),
            'decode')
        k = selection.num_selected.float()
        losses['num_selected'] = k.mean().detach()
        return losses

    def _forward(self,
                 inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tuple[Tensor, Tensor]:
        """Network forward: last mask proposals (B, Q, h', w') and
        full-vocabulary mask-class logits (B, Q, T + 1)."""
        mask_props, mask_logits, _ = self.decode(inputs, [])
        return mask_props[-1], mask_logits[-1]
