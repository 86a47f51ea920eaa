"""Open-vocabulary encoder-decoder: the segmentor that owns the data flow."""
import logging
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.utils import (ConfigType, OptConfigType, OptMultiConfig,
                         OptSampleList, SampleList)
from torch import Tensor

from ..layers.structures import CategorySelection
from ..layers.tensor_contract import check_tensor_contracts
from ..layers.vocabulary import (VocabularyLike, check_label_values,
                                 load_vocabulary, seen_category_mask)
from ..selectors.dcp_category_selector import pad_selections

NO_SELECTOR_PROVIDES = frozenset({'selection', 'cls_logits'})
"""What the segmentor provides itself when ``selector=None``."""


@MODELS.register_module()
class OpenVocabEncoderDecoder(EncoderDecoder):
    """CLIP-based open-vocabulary segmentor (DCP-CLIP, CAT-Seg-like models).

    Data flow (explicit, no hooks on modules)::

        image -> backbone -> CLIPImageFeatures (cls (B, D), dense (B, D, h, w),
                 intermediate layers, attention)
        vocabulary -> text_encoder -> (T, P, D) L2-normalised
        -> selector (DCS / pruning / None = all T) -> CategorySelection (B, K)
        -> neck (TGA / aggregation) -> CostFeatures (B, K, d, h, w)
        -> decode_head -> (B, K, H', W') logits
        training: per-pixel BCE over the K selected categories
        inference: logits scattered to the full vocabulary (B, T, H, W),
                   dropped categories get ``unselected_logit``;
                   post_processor (TV) relabels unseen-category regions.

    Vocabularies: the training vocabulary (= seen categories) and the test
    vocabulary are lists of names, given here or set from the datasets'
    ``metainfo['classes']`` by :class:`OVVocabularyHook` (in every dcp_mm
    runtime config). The training vocabulary is saved in the state dict
    (extra state), so a checkpoint knows its seen categories.

    Args:
        backbone: CLIP image encoder config (e.g. ``CLIPViTBackbone``).
        text_encoder: CLIP text encoder config (``OpenCLIPTextEncoder``).
        decode_head: head config; ``num_templates`` is filled in from the
            text encoder.
        selector: category selector config, or None (all categories).
        neck: cost-feature neck config (``embed_dims`` and ``num_templates``
            filled in), or None.
        post_processor: test-time post-processor config (``DCPTagValidator``)
            or None.
        pretrained: CLIP weights for both towers: 'openai', a local file, or
            None (random init, logged as a warning).
        train_vocabulary, test_vocabulary: list of names or a text file.
        unselected_logit: logit of categories not selected (-100, CAT-Seg).
        test_cfg: mmseg test_cfg: ``mode='whole'`` (the image is resized to
            ``crop_size`` if given, as CAT-Seg) or ``'slide'`` with
            ``crop_size``, ``stride`` and ``global_view`` (CAT-Seg: average
            the tiles' probabilities and one global view of the whole image
            resized to the crop). ``selection='oracle'`` (default
            ``'model'``) adds each image's ground-truth categories to the
            selection at test time, as in training (needs the annotations
            in the test pipeline): mIoU without the selector's misses.

    Raises:
        ValueError: at build time, parts that do not fit together (a part
            requires a tensor that no earlier part provides, or with other
            sizes; the message names both parts, see
            :mod:`~dcp_mm.models.layers.tensor_contract`); missing
            vocabulary at forward time, label values outside the training
            vocabulary, unknown test mode.
    """

    def __init__(self,
                 backbone: ConfigType,
                 text_encoder: ConfigType,
                 decode_head: ConfigType,
                 selector: OptConfigType = None,
                 neck: OptConfigType = None,
                 post_processor: OptConfigType = None,
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
        backbone = dict(backbone)
        text_encoder = dict(text_encoder)
        for name, cfg in (('backbone', backbone), ('text_encoder',
                                                   text_encoder)):
            if cfg.get('pretrained') is not None:
                raise ValueError(
                    f'set the CLIP weights once with model.pretrained, not '
                    f'model.{name}.pretrained')
            cfg['pretrained'] = pretrained
        self.pretrained = pretrained
        self.backbone = MODELS.build(backbone)
        self.text_encoder = MODELS.build(text_encoder)
        num_templates = self.text_encoder.num_templates
        embed_dims = self.backbone.embed_dims
        self.selector = MODELS.build(selector) if selector else None
        if neck is not None:
            neck = dict(neck)
            neck.setdefault('embed_dims', embed_dims)
            neck.setdefault('num_templates', num_templates)
            self.neck = MODELS.build(neck)
        else:
            self.neck = None
        decode_head = dict(decode_head)
        decode_head.setdefault('num_templates', num_templates)
        decode_head.setdefault('clip_channels', self.backbone.width)
        self._init_decode_head(decode_head)
        self.auxiliary_head = None
        self.post_processor = (
            MODELS.build(post_processor) if post_processor else None)
        self._check_composition()
        self.unselected_logit = unselected_logit
        self.train_cfg = ConfigDict(train_cfg or {})
        self.test_cfg = ConfigDict(test_cfg or {})
        self._oracle_gt: Optional[List[Tensor]] = None
        self.train_vocabulary: Optional[List[str]] = None
        self.test_vocabulary: Optional[List[str]] = None
        if train_vocabulary is not None:
            self.set_vocabulary(train_vocabulary, 'train')
        if test_vocabulary is not None:
            self.set_vocabulary(test_vocabulary, 'test')

    def _check_composition(self) -> None:
        """Refuse parts that do not fit together, before any forward.

        Each part declares the tensors it ``requires`` and ``provides``
        (:mod:`~dcp_mm.models.layers.tensor_contract`); without a selector
        the segmentor itself selects every category (with [CLS] logits).
        """
        roles = ('backbone', 'text_encoder', 'selector', 'neck', 'decode_head',
                 'post_processor')
        check_tensor_contracts([(r, getattr(self, r)) for r in roles],
                               defaults=dict(selector=NO_SELECTOR_PROVIDES))

    # ------------------------------------------------------------ vocabulary
    def set_vocabulary(self,
                       vocabulary: VocabularyLike,
                       split: str = 'test') -> None:
        """Set the training (= seen) or test vocabulary (names or a file)."""
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        names = load_vocabulary(vocabulary)
        setattr(self, f'{split}_vocabulary', names)

    def current_vocabulary(self) -> List[str]:
        """The vocabulary of this forward: training or test (eval mode)."""
        if self.training:
            vocab = self.train_vocabulary
            hint = 'model.train_vocabulary (or the training dataset classes)'
        else:
            vocab = self.test_vocabulary or self.train_vocabulary
            hint = ('model.test_vocabulary, set_vocabulary(...), or the test '
                    'dataset classes')
        if vocab is None:
            raise ValueError(f'no vocabulary set: give {hint}.')
        return vocab

    def get_extra_state(self) -> dict:
        return dict(train_vocabulary=self.train_vocabulary)

    def set_extra_state(self, state: dict) -> None:
        vocab = state.get('train_vocabulary') if state else None
        if vocab is not None:
            self.train_vocabulary = list(vocab)

    # ----------------------------------------------------------------- flow
    def extract_feat(self, inputs: Tensor):
        """Image -> CLIPImageFeatures (see the backbone)."""
        return self.backbone(inputs)

    def _select(self, feats, text_avg: Tensor,
                gt_categories: Optional[List[Tensor]]) -> CategorySelection:
        """(T, D) normalised text -> CategorySelection (B, K)."""
        b, t = feats.cls_embed.shape[0], text_avg.shape[0]
        if self.selector is not None:
            return self.selector(feats.cls_embed, feats.dense_embeds, text_avg,
                                 gt_categories)
        device = text_avg.device
        cls_logits = 100.0 * F.normalize(
            feats.cls_embed, dim=-1) @ text_avg.t()
        return CategorySelection(
            torch.arange(t, device=device).expand(b, t),
            torch.ones(b, t, dtype=torch.bool, device=device), cls_logits)

    def _decode(self,
                inputs: Tensor,
                gt_categories: Optional[List[Tensor]] = None
                ) -> Tuple[Dict, object]:
        """Run encoder, text encoder, selector and neck; head inputs."""
        feats = self.extract_feat(inputs)
        text = self.text_encoder(self.current_vocabulary())
        text_avg = F.normalize(text.mean(dim=1), dim=-1)
        selection = self._select(feats, text_avg, gt_categories)
        if not self.training and self._oracle_gt is not None:
            selection = self._add_categories(selection, self._oracle_gt)
        # (T, P, D)[B, K] -> (B, K, P, D)
        text_sel = text[selection.indices]
        cost = self.neck(feats.dense_embeds, text_sel, selection)
        head_inputs = dict(
            cost=cost,
            inter_feats=feats.inter_feats,
            attn=feats.attn_weights,
            selection=selection)
        return head_inputs, feats

    @staticmethod
    def _add_categories(selection: CategorySelection,
                        extra: List[Tensor]) -> CategorySelection:
        """Union of each image's selected categories with ``extra[b]``."""
        merged = [
            torch.cat([idx[ok], e.to(idx.device).long()])
            for idx, ok, e in zip(selection.indices, selection.valid, extra)
        ]
        return pad_selections(merged, selection.cls_logits)

    def _test_gt_categories(self, data_samples: OptSampleList,
                            num_classes: int) -> Optional[List[Tensor]]:
        """``test_cfg.selection='oracle'``: per image the label values in
        [0, T) of its ground truth (added to the selection), else None."""
        mode = self.test_cfg.get('selection', 'model')
        if mode not in ('model', 'oracle'):
            raise ValueError("test_cfg.selection must be 'model' or "
                             f"'oracle', got {mode!r}")
        if mode == 'model':
            return None
        if not data_samples or any('gt_sem_seg' not in ds
                                   for ds in data_samples):
            raise ValueError("test_cfg.selection='oracle' needs the ground "
                             'truth at test time: load the annotations in '
                             'the test pipeline (LoadAnnotations)')
        cats = []
        for ds in data_samples:
            values = torch.unique(ds.gt_sem_seg.data).long()
            cats.append(values[(values >= 0) & (values < num_classes)])
        return cats

    def _scatter(self, logits: Tensor, selection: CategorySelection,
                 num_classes: int) -> Tensor:
        """(B, K, H, W) selected logits -> (B, T, H, W) full vocabulary."""
        b, _, h, w = logits.shape
        full = logits.new_full((b, num_classes + 1, h, w),
                               self.unselected_logit)
        # padded entries write to a spare channel T that is dropped
        index = torch.where(selection.valid, selection.indices,
                            torch.full_like(selection.indices, num_classes))
        full.scatter_(1, index[:, :, None, None].expand(-1, -1, h, w), logits)
        return full[:, :num_classes]

    def _encode_decode(self, inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Full-vocabulary logits (B, T, H, W) at the input size, the
        dense CLIP embeddings (B, D, h, w) of this input and the selected
        categories as a mask (B, T) bool."""
        head_inputs, feats = self._decode(inputs)
        logits = self.decode_head.forward(head_inputs)
        logits = F.interpolate(
            logits, inputs.shape[-2:], mode='bilinear', align_corners=False)
        t = len(self.current_vocabulary())
        selection = head_inputs['selection']
        return (self._scatter(logits, selection, t), feats.dense_embeds,
                self._selected_mask(selection, t))

    @staticmethod
    def _selected_mask(selection: CategorySelection,
                       num_classes: int) -> Tensor:
        """CategorySelection (B, K) -> mask (B, T) of selected categories."""
        b = selection.indices.shape[0]
        mask = selection.indices.new_zeros((b, num_classes + 1),
                                           dtype=torch.bool)
        # padded entries mark a spare column T that is dropped
        index = torch.where(selection.valid, selection.indices,
                            torch.full_like(selection.indices, num_classes))
        mask.scatter_(1, index, True)
        return mask[:, :num_classes]

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """(B, 3, H, W) -> (B, T, H, W) logits over the full vocabulary."""
        return self._encode_decode(inputs)[0]

    # ------------------------------------------------------------- training
    def _gt_categories(self, data_samples: SampleList,
                       num_classes: int) -> List[Tensor]:
        """Label values present per image; refuses out-of-vocabulary ones."""
        ignore = self.decode_head.ignore_index
        cats = []
        for ds in data_samples:
            values = torch.unique(ds.gt_sem_seg.data)
            check_label_values(values, num_classes, ignore,
                               ds.metainfo.get('seg_map_path', 'a label map'),
                               'training vocabulary')
            cats.append(values[values != ignore].long())
        return cats

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Per-pixel BCE over the selected categories of each image."""
        t = len(self.current_vocabulary())
        gt = self._gt_categories(data_samples, t)
        head_inputs, _ = self._decode(inputs, gt)
        losses = self.decode_head.loss(head_inputs, data_samples,
                                       self.train_cfg)
        k = head_inputs['selection'].num_selected.float()
        losses['num_selected'] = k.mean().detach()
        return losses

    def _forward(self,
                 inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tensor:
        """Network forward: (B, K, H', W') logits of the selected
        categories."""
        head_inputs, _ = self._decode(inputs)
        return self.decode_head.forward(head_inputs)

    # ------------------------------------------------------------ inference
    def _resize(self, x: Tensor, size) -> Tensor:
        return F.interpolate(
            x, tuple(size), mode='bilinear', align_corners=False)

    def _whole(self, inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        size = self.test_cfg.get('crop_size')
        if size is None or tuple(size) == tuple(inputs.shape[-2:]):
            return self._encode_decode(inputs)
        logits, dense, selected = self._encode_decode(
            self._resize(inputs, size))
        return self._resize(logits, inputs.shape[-2:]), dense, selected

    def _slide(self, inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Sliding windows (+ global view): logit of averaged probabilities;
        the selected-category mask (B, T) is the union over all passes."""
        h_stride, w_stride = self.test_cfg.stride
        h_crop, w_crop = self.test_cfg.crop_size
        b, _, h_img, w_img = inputs.shape
        h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
        w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
        probs = count = selected = None
        for h_idx in range(h_grids):
            for w_idx in range(w_grids):
                y1 = min(h_idx * h_stride, max(h_img - h_crop, 0))
                x1 = min(w_idx * w_stride, max(w_img - w_crop, 0))
                y2, x2 = min(y1 + h_crop, h_img), min(x1 + w_crop, w_img)
                crop = inputs[:, :, y1:y2, x1:x2]
                logit, _, sel = self._whole(crop) if crop.shape[-2:] != (
                    h_crop, w_crop) else self._encode_decode(crop)
                if probs is None:
                    t = logit.shape[1]
                    probs = inputs.new_zeros((b, t, h_img, w_img))
                    count = inputs.new_zeros((b, 1, h_img, w_img))
                    selected = torch.zeros_like(sel)
                selected |= sel
                probs[:, :, y1:y2, x1:x2] += logit.sigmoid()
                count[:, :, y1:y2, x1:x2] += 1
        assert (count > 0).all(), 'sliding windows left pixels uncovered'
        probs = probs / count
        dense = None
        if self.test_cfg.get('global_view', False):
            g_logit, dense, sel = self._encode_decode(
                self._resize(inputs, (h_crop, w_crop)))
            selected |= sel
            probs = (probs + self._resize(g_logit,
                                          (h_img, w_img)).sigmoid()) / 2
        elif self.post_processor is not None:
            dense = self.extract_feat(self._resize(
                inputs, (h_crop, w_crop))).dense_embeds
        return torch.logit(probs.clamp(1e-6, 1 - 1e-6)), dense, selected

    def _inference(self, inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        mode = self.test_cfg.get('mode', 'whole')
        if mode == 'whole':
            return self._whole(inputs)
        if mode == 'slide':
            return self._slide(inputs)
        raise ValueError(f"test_cfg.mode must be 'whole' or 'slide', got "
                         f'{mode!r}')

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """(B, 3, H, W) -> (B, T, H, W) logits (whole or slide mode)."""
        return self._inference(inputs)[0]

    def slide_inference(self, inputs: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        return self._slide(inputs)[0]

    def whole_inference(self, inputs: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        return self._whole(inputs)[0]

    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Segment with the test vocabulary; TV relabels unseen regions.

        Each returned SegDataSample holds ``seg_logits`` (T, H, W) and
        ``pred_sem_seg`` (1, H, W) at the original size, and the metainfo
        key ``selected_categories``: the names of the categories that
        reached the decoder (the selector's choice; the union over sliding
        windows). With a post-processor, ``pred_sem_seg`` is its output and
        the metainfo key ``tv_relabelled`` maps relabelled category names to
        new ones.
        """
        if data_samples is None:
            shape = inputs.shape[2:]
            metas = [
                dict(
                    ori_shape=shape,
                    img_shape=shape,
                    pad_shape=shape,
                    padding_size=[0, 0, 0, 0])
            ] * inputs.shape[0]
        else:
            metas = [ds.metainfo for ds in data_samples]
        if any(m['ori_shape'] != metas[0]['ori_shape'] for m in metas):
            print_log(
                'Image shapes are different in the batch.',
                logger='current',
                level=logging.WARN)
        vocab = self.current_vocabulary()
        self._oracle_gt = self._test_gt_categories(data_samples, len(vocab))
        try:
            seg_logits, dense, selected = self._inference(inputs)
        finally:
            self._oracle_gt = None
        results = self.postprocess_result(seg_logits, data_samples)
        for ds, sel in zip(results, selected.tolist()):
            ds.set_metainfo(
                dict(selected_categories=[
                    name for name, s in zip(vocab, sel) if s
                ]))
        if self.post_processor is None:
            return results
        if self.train_vocabulary is None:
            raise ValueError('the tag validator needs the seen categories: '
                             'set model.train_vocabulary or load a '
                             'checkpoint trained by dcp_mm.')
        seen = seen_category_mask(vocab, self.train_vocabulary)
        text = self.text_encoder(vocab)
        text_avg = F.normalize(text.mean(dim=1), dim=-1)
        return self.post_processor.validate_samples(results, dense, text_avg,
                                                    seen, vocab)
