"""Open-vocabulary encoder-decoder: the segmentor that owns the data flow."""
from typing import List, Optional, Sequence

import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import (ConfigType, OptConfigType, OptMultiConfig,
                         OptSampleList, SampleList)
from torch import Tensor

from dcp_mm.structures import (HeadInputs, OVSegLogits, check_composition,
                               check_negatives)
from ..utils import (OpenVocabularyMixin, check_test_cfg,
                     check_weights_set_once, resize_view, slide_inference)
from ..utils.vocabulary import VocabularyLike

GT = Optional[List[Tensor]]  # per-image ground-truth label values


@MODELS.register_module()
class OpenVocabEncoderDecoder(OpenVocabularyMixin, EncoderDecoder):
    """CLIP-based open-vocabulary segmentor (DCP-CLIP, CAT-Seg, SED).

    Data flow (explicit; the typed structures of :mod:`dcp_mm.structures`)::

        image --backbone--> CLIPImageFeatures
        vocabulary --text_encoder--> (T, P, D), once per forward
        --selector--> CategorySelection (B, K)   [+ GT in training / oracle]
        --text_adapter (optional)--> (B, K, P, D)
        --neck--> CostFeatures --decode_head(HeadInputs)--> (B, K, H', W')
        training: the head's loss over the K categories (+ aux_losses)
        inference: OVSegLogits over the union U of the selected categories
        (whole image, or sliding windows + global view); full (T, H, W)
        logits only when asked; post_processor (TV) relabels unseen regions.

    Args:
        backbone, text_encoder, decode_head: part configs (the segmentor
            fills in ``embed_dims`` / ``num_templates`` / ``clip_channels``).
        selector: category selector (None: ``AllCategoriesSelector``).
        neck: cost-feature neck; text_adapter: optional ``(text (B, K, P,
            D), dense (B, D, h, w)) -> (B, K, P, D)``; post_processor: TV.
        aux_losses: losses on the image features, each called as
            ``loss(inputs, image_feats) -> dict`` in training; a loss with
            ``bind_backbone(backbone)`` gets the initial backbone at build.
        pretrained: CLIP weights of both towers ('openai', a file or None).
        train_vocabulary, test_vocabulary: names or a text file.
        train_cfg: ``input_resize`` (crops resized for the network);
            ``negatives`` (:meth:`CategorySelection.with_negatives`; 0).
        unselected_logit: logit of categories not selected (-100, CAT-Seg).
        test_cfg: ``mode`` 'whole' (resized to ``crop_size`` if given) or
            'slide' (``crop_size``, ``stride``, ``global_view``);
            ``selection`` 'model' or 'oracle' (GT categories added);
            ``output_logits`` 'auto' (full (T, H, W) ``seg_logits`` when
            T x H x W <= ``max_full_logits``, 2^26 by default, else the U
            selected channels), 'full' or 'selected'.

    Raises:
        CompositionError: parts that do not fit; ValueError: bad test_cfg,
            no vocabulary, label values outside the training vocabulary.
    """

    def __init__(self,
                 backbone: ConfigType,
                 text_encoder: ConfigType,
                 decode_head: ConfigType,
                 selector: OptConfigType = None,
                 neck: OptConfigType = None,
                 text_adapter: OptConfigType = None,
                 post_processor: OptConfigType = None,
                 aux_losses: Optional[Sequence[ConfigType]] = None,
                 pretrained: Optional[str] = None,
                 train_vocabulary: Optional[VocabularyLike] = None,
                 test_vocabulary: Optional[VocabularyLike] = None,
                 unselected_logit: float = -100.0,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        BaseSegmentor.__init__(
            self, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        check_weights_set_once(backbone=backbone, text_encoder=text_encoder)
        self.pretrained = pretrained
        self.backbone = MODELS.build(dict(backbone, pretrained=pretrained))
        self.aux_losses = nn.ModuleList(
            [MODELS.build(cfg) for cfg in aux_losses or []])
        for loss in self.aux_losses:
            if hasattr(loss, 'bind_backbone'):
                loss.bind_backbone(self.backbone)
        self.text_encoder = MODELS.build(
            dict(text_encoder, pretrained=pretrained))
        p, d = self.text_encoder.num_templates, self.backbone.embed_dims
        self.selector = MODELS.build(
            selector or dict(type='AllCategoriesSelector'))
        self.text_adapter = MODELS.build(text_adapter) if text_adapter \
            else None
        self.neck = MODELS.build(
            dict(dict(embed_dims=d, num_templates=p), **neck)) if neck \
            else None
        if self.neck is not None:  # the cost channels (2P: concat_cost)
            p = self.neck.cost_spec.num_templates
        self._init_decode_head(
            dict(
                dict(num_templates=p, clip_channels=self.backbone.width),
                **decode_head))
        self.auxiliary_head = None
        self.post_processor = MODELS.build(post_processor) \
            if post_processor else None
        self.unselected_logit = unselected_logit
        self.train_cfg = ConfigDict(train_cfg or {})
        check_negatives(self.train_cfg.get('negatives', 0))
        self.test_cfg = ConfigDict(test_cfg or {})
        check_test_cfg(self.test_cfg)
        check_composition(self.backbone, self.text_encoder, self.neck,
                          self.decode_head, self.text_adapter)
        self.init_vocabularies(train_vocabulary, test_vocabulary)

    # ----------------------------------------------------------------- flow
    def extract_feat(self, inputs: Tensor):
        """Image -> :class:`~dcp_mm.structures.CLIPImageFeatures`."""
        return self.backbone(inputs)

    def _head_inputs(self,
                     inputs: Tensor,
                     text: Tensor,
                     gt: GT = None) -> HeadInputs:
        """Image (B, 3, H, W), text (T, P, D) -> :class:`HeadInputs`.
        ``gt`` (per-image label values) joins the selection in training
        (with ``train_cfg.negatives``) and in oracle mode; a trainable text
        tower re-encodes the prompts that reach the decoder with gradient."""
        image = self.backbone(inputs)
        text_avg = F.normalize(text.mean(dim=1), dim=-1)
        selection = self.selector(image.cls_embed, image.dense_embeds,
                                  text_avg, gt)
        if self.training:
            selection = selection.with_negatives(
                self.train_cfg.get('negatives', 0), len(text))
        elif gt is not None:
            selection = selection.with_categories(gt)
        text = self.text_encoder.with_gradient(
            text, self.current_vocabulary(),
            [selection.indices[selection.valid]] + list(gt or []))
        text_sel = selection.gather(text)  # (T, P, D) -> (B, K, P, D)
        if self.text_adapter is not None:
            text_sel = self.text_adapter(text_sel, image.dense_embeds)
        return self._with_cost(image, text_sel, selection)

    def _with_cost(self, image, text_sel: Tensor, selection) -> HeadInputs:
        """The neck step (DPSeg's segmentor overrides only this step)."""
        return HeadInputs(
            self.neck(image.dense_embeds, text_sel, selection), image,
            selection)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """The head's per-pixel loss over the selected categories."""
        vocab = self.current_vocabulary()
        gt = self.gt_categories(data_samples, len(vocab))
        inputs = resize_view(inputs, self.train_cfg.get('input_resize'))
        head_inputs = self._head_inputs(inputs, self.text_encoder(vocab), gt)
        losses = self.decode_head.loss(head_inputs, data_samples,
                                       self.train_cfg)
        for aux_loss in self.aux_losses:
            losses.update(aux_loss(inputs, head_inputs.image))
        losses['num_selected'] = \
            head_inputs.selection.num_selected.float().mean().detach()
        return losses

    # ------------------------------------------------------------ inference
    def _view(self,
              inputs: Tensor,
              text: Tensor,
              gt: GT,
              net_size=None,
              direct: bool = False) -> OVSegLogits:
        """One view -> logits at its size; the network sees it resized to
        ``net_size``; the head's logits go straight to the view (``direct``,
        CAT-Seg's windows) or first to the network input."""
        x = resize_view(inputs, net_size)
        head_inputs = self._head_inputs(x, text, gt)
        logits = self.decode_head.forward(head_inputs)
        if not direct:
            logits = resize_view(logits, x.shape[-2:])
        return OVSegLogits.from_selection(
            resize_view(logits, inputs.shape[-2:]), head_inputs.selection,
            text.shape[0], self.unselected_logit,
            head_inputs.image.dense_embeds)

    def inference_result(self,
                         inputs: Tensor,
                         text: Tensor,
                         gt: GT = None) -> OVSegLogits:
        """(B, 3, H, W) -> :class:`OVSegLogits` (whole or slide mode;
        slide: ``crop_size``, ``stride``, ``window_resize`` (every view
        resized to it for the network), ``global_view``)."""
        if self.test_cfg.get('mode', 'whole') == 'whole':
            return self._view(inputs, text, gt, self.test_cfg.get('crop_size'))
        return slide_inference(
            lambda view, size, direct: self._view(view, text, gt, size, direct
                                                  ), inputs, self.test_cfg,
            text.shape[0], self.unselected_logit)

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """(B, 3, H, W) -> (B, T, H, W) logits over the full vocabulary
        (whole or slide mode; also mmseg's ``encode_decode``)."""
        text = self.text_encoder(self.current_vocabulary())
        return self.inference_result(inputs, text).full()

    encode_decode = inference

    def _forward(self,
                 inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tensor:
        """Network forward: (B, T, H, W) full-vocabulary logits."""
        return self.inference(inputs, [])

    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Segment with the test vocabulary; TV relabels unseen regions.

        Each SegDataSample holds ``pred_sem_seg`` (1, H, W) at the original
        size and ``seg_logits`` (see :meth:`OVSegLogits.to_data_sample`:
        T or the U selected channels, metainfo ``logit_categories`` and
        ``selected_categories``) and, with TV, ``tv_relabelled``.
        """
        check_test_cfg(self.test_cfg)  # also after a change at run time
        vocab = self.current_vocabulary()
        text = self.text_encoder(vocab)
        gt = self.gt_categories(data_samples, len(vocab)) if \
            self.test_cfg.get('selection') == 'oracle' else None
        result = self.inference_result(inputs, text, gt)
        samples = [
            result.to_data_sample(i, ds, vocab, self.test_cfg)
            for i, ds in enumerate(data_samples or [
                SegDataSample(metainfo=dict(ori_shape=inputs.shape[-2:]))
                for _ in inputs
            ])
        ]
        if self.post_processor is None:
            return samples
        text_avg = F.normalize(text.mean(dim=1), dim=-1)
        return self.post_processor.validate_samples(samples,
                                                    result.dense_embeds,
                                                    text_avg,
                                                    self.seen_mask(vocab),
                                                    vocab)
