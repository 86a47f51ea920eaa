"""DPSeg (Zhao et al., CVPR 2025) data flow on the open-vocabulary segmentor.

All DPSeg-specific work sits in small methods of
:class:`DPSegEncoderDecoder`; the base class's flow is unchanged except
for :meth:`~DPSegEncoderDecoder._with_cost` (visual prompts into the neck
and the head) and :meth:`~DPSegEncoderDecoder.predict` (two rounds with
prompt refinement).
"""
import copy
from typing import Optional, Tuple

import torch
from mmengine.logging import print_log
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptSampleList, SampleList
from torch import Tensor

from dcp_mm.structures import (CategorySelection, CLIPImageFeatures,
                               HeadInputs, VisualPrompts)
from ..layers.dual_prompt_cost import PROMPT_FUSIONS
from ..layers.visual_prompts import align_prompts_to_templates
from .open_vocab_encoder_decoder import OpenVocabEncoderDecoder


@MODELS.register_module()
class DPSegEncoderDecoder(OpenVocabEncoderDecoder):
    """Open-vocabulary segmentor with DPSeg's visual prompts.

    DPSeg: "Dual-Prompt Cost Volume Learning for Open-Vocabulary Semantic
    Segmentation" (Zhao et al., CVPR 2025). Reconstructed from the abstract
    and secondary descriptions; there is no official code. Flow on top of
    :class:`OpenVocabEncoderDecoder`::

        vocabulary -> visual_prompt_bank -> VisualPrompts (T, M, D),
                      pooled stages [(T, M, C_j)]   (frozen CLIP, cached)
        [test, round II] prompts of detected categories replaced by
                      masked crops of the input (prompt_refiner), per image
        selection (B, K) -> selected prompts (B, K, M, .)
        -> neck(dense, text, selection, visual_embeds (aligned to the P
           templates), has_visual) (the neck's ``fusion``: DPSeg's
           R = Avg(T, V) cost, Sec. "dual-prompt cost volume")
        -> decode_head(HeadInputs(..., visual_prompts=prompts)) (CVGD's
           visual costs, one channel per prompt slot M)

    Args:
        visual_prompt_bank: :class:`VisualPromptBank` config; its
            ``encoder`` defaults to ``backbone`` (frozen) and receives
            ``pretrained``.
        prompt_refiner: :class:`DPSegPromptRefiner` config (test time), or
            None (one round).
        other args: as :class:`OpenVocabEncoderDecoder`; the neck must have
            a ``fusion`` option (``DCPTextGuidedAlignNeck``,
            ``CATSegAggregationNeck``). The head's ``num_templates`` is set to
            the neck's cost channels (2P for ``concat_cost``) and, for heads
            with ``uses_visual_prompts``, ``num_prompt_slots`` to the bank's
            M.

    Raises:
        ValueError: as the base class; a neck without a ``fusion`` option;
            a bank whose encoder embedding dim differs from the text's.
    """

    def __init__(self,
                 backbone: ConfigType,
                 text_encoder: ConfigType,
                 decode_head: ConfigType,
                 visual_prompt_bank: ConfigType,
                 prompt_refiner: OptConfigType = None,
                 **kwargs) -> None:
        # the bank first: the head is built with its prompt slots M
        bank_cfg = copy.deepcopy(dict(visual_prompt_bank))
        encoder = dict(
            bank_cfg.get('encoder') or copy.deepcopy(dict(backbone)))
        encoder['pretrained'] = kwargs.get('pretrained')
        bank_cfg['encoder'] = encoder
        bank = MODELS.build(bank_cfg)
        self._num_prompt_slots = bank.num_prompts  # plain int, pre-init
        super().__init__(backbone, text_encoder, decode_head, **kwargs)
        self.visual_prompt_bank = bank
        self.prompt_refiner = (
            MODELS.build(prompt_refiner) if prompt_refiner else None)
        self._check_dpseg_parts()
        self._prompt_override: Optional[VisualPrompts] = None
        self._refinement_logged = False

    def _init_decode_head(self, decode_head: ConfigType) -> None:
        """Inject the prompt slots M (the base class injects the neck's
        cost channels)."""
        decode_head = dict(decode_head)
        head_cls = MODELS.get(decode_head['type'])
        if getattr(head_cls, 'uses_visual_prompts', False):
            decode_head.setdefault('num_prompt_slots', self._num_prompt_slots)
        super()._init_decode_head(decode_head)

    def _check_dpseg_parts(self) -> None:
        """The neck takes visual prompts; the bank's D matches the text."""
        fusion = getattr(self.neck, 'fusion', None)
        if fusion not in PROMPT_FUSIONS:
            raise ValueError(
                f'DPSegEncoderDecoder needs a neck with a fusion option '
                f'({PROMPT_FUSIONS}), got neck '
                f'{type(self.neck).__name__}: use DCPTextGuidedAlignNeck or '
                'CATSegAggregationNeck')
        d_v = self.visual_prompt_bank.embed_dims
        d_t = self.text_encoder.embed_dims
        if d_v != d_t:
            raise ValueError(f'visual prompt bank encoder D={d_v} differs '
                             f'from the text encoder D={d_t}: use the image '
                             'tower of the same CLIP model')

    # ------------------------------------------------------ DPSeg: prompts
    def current_visual_prompts(self) -> VisualPrompts:
        """Prompts of the current vocabulary: the bank's (T, M, ...), or
        the refined per-image (B, T, M, ...) ones during round II."""
        if self._prompt_override is not None:
            return self._prompt_override
        return self.visual_prompt_bank(self.current_vocabulary())

    def selected_visual_prompts(self,
                                selection: CategorySelection) -> VisualPrompts:
        """Prompts of the selected categories: embeds (B, K, M, D),
        stage_embeds [(B, K, M, C_j)], valid (B, K, M) (the decoder's
        visual costs have one channel per prompt slot M)."""
        return self.current_visual_prompts().select(selection.indices)

    @staticmethod
    def neck_visual_embeds(prompts: VisualPrompts,
                           num_templates: int) -> Tensor:
        """(B, K, M, D) prompts -> (B, K, P, D) aligned to the text
        templates for the dual-prompt cost
        (:func:`align_prompts_to_templates`)."""
        return align_prompts_to_templates(prompts.embeds, prompts.valid,
                                          num_templates)

    def refine_prompts(self, inputs: Tensor,
                       pred: Tensor) -> Tuple[VisualPrompts, Tensor]:
        """Round I labels (B, H, W) -> refined per-image prompts and the
        (B, T) bool refined categories (:class:`DPSegPromptRefiner`)."""
        bank_prompts = self.visual_prompt_bank(self.current_vocabulary())
        return self.prompt_refiner(inputs, pred, bank_prompts,
                                   self.visual_prompt_bank)

    # ----------------------------------------------------------------- flow
    def _with_cost(self, image: CLIPImageFeatures, text_sel: Tensor,
                   selection: CategorySelection) -> HeadInputs:
        """As the base class, plus the visual prompts for neck and head."""
        visual = self.selected_visual_prompts(selection)
        cost = self.neck(
            image.dense_embeds,
            text_sel,
            selection,
            visual_embeds=self.neck_visual_embeds(
                visual, text_sel.shape[2]).to(text_sel.dtype),
            has_visual=visual.has_prompt)
        return HeadInputs(cost, image, selection, visual)

    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Without a refiner: as the base class. With one: round I with
        the bank's prompts, refinement, round II (the base predict, TV
        included). Each sample's metainfo ``dpseg_refined`` lists the
        categories whose prompts were replaced."""
        if self.prompt_refiner is None:
            return super().predict(inputs, data_samples)
        self._prompt_override = None
        with torch.no_grad():
            text = self.text_encoder(self.current_vocabulary())
            first = self.inference_result(inputs, text).labels()
            prompts, refined = self.refine_prompts(inputs, first)
        self._prompt_override = prompts
        try:
            results = super().predict(inputs, data_samples)
        finally:
            self._prompt_override = None
        vocab = self.current_vocabulary()
        if not self._refinement_logged:
            self._refinement_logged = True
            print_log(
                f'DPSeg prompt refinement: round II with '
                f'{int(refined.sum())} refined category prompts in '
                f'{len(results)} image(s) (logged once)',
                logger='current')
        for ds, row in zip(results, refined.tolist()):
            ds.set_metainfo(
                dict(dpseg_refined=[n for n, r in zip(vocab, row) if r]))
        return results
