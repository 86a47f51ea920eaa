"""Key rules of the official MAFT+ checkpoints (CLIP towers and CDT).

Official code: MAFT+ github.com/jiaosiyu1999/MAFT-Plus (MIT licence), a
detectron2 project on FC-CLIP; released weights ``maftp_b.pth`` /
``maftp_l.pth`` hold the model under ``'model'``. Its parts map to dcp_mm
as follows (``configs/maftp/maftp-cdt-rc_convnextb_cocostuff.py``):

====================================  ===================================
official (detectron2)                 dcp_mm
====================================  ===================================
``cdt.cross_atten.multihead_attn.*``  ``text_adapter.attn.*`` (fused
                                      ``in_proj_weight`` kept)
``cdt.cross_atten.norm.*``            ``text_adapter.norm.*``
``cdt.cross_atten.MLP.*``             ``text_adapter.proj.*``
``backbone.clip_model.visual.*``      ``backbone.visual.*`` (fine-tuned)
``backbone.clip_model.`` text tower   ``text_encoder.text.*`` (q / k / v
                                      split)
``backbone.clip_model.logit_scale``   dropped
``backbone_t.*``                      dropped: the frozen RC teacher
``sem_seg_head.*``, ``criterion.*``   dropped: FC-CLIP mask-proposal head
``void_embedding.weight``             dropped: void class of mask
                                      classification
====================================  ===================================

MAFT+ has no per-pixel cost-volume decoder, so a converted checkpoint
initialises the CLIP towers and the CDT only; :func:`convert_maftp_checkpoint`
checks every converted key against the dcp_mm model (same key, same shape)
and lists the model keys it does not cover (neck and decode head: trained
from scratch) in its summary and in the checkpoint's meta.
"""
import os.path as osp
from typing import Any, Dict, List, Mapping, Tuple

import torch
from mmengine.config import Config

from dcp_mm.engine.model_checkpoint import MODEL_META_KEY, model_meta
from .core import (EXTRA_STATE_KEY, CheckpointConverter, KeyRule, StateDict,
                   _listing)
from .official import (_clip_rules, load_official_checkpoint, model_template,
                       official_train_vocabulary)

MAFTP_CLIP = 'backbone.clip_model.'
MAFTP_CDT = 'cdt.cross_atten.'

TEACHER_REASON = (
    "MAFT+'s frozen copy of the initial CLIP for Representation "
    'Compensation: dcp_mm rebuilds it from model.pretrained when the model is '
    'built and never saves it')
MASK_HEAD_REASON = (
    "FC-CLIP's mask-proposal head / criterion (pixel decoder, "
    'masked-attention decoder, no-object weight): no counterpart in the '
    'per-pixel cost-volume family')
VOID_REASON = ("learnable void-class embedding of MAFT+'s mask "
               'classification: per-pixel BCE has no void class')
MAFTP_LOGIT_SCALE_REASON = (
    'CLIP logit scale (frozen; MAFT+ clamps exp() to 100 for its mask '
    "logits): dcp_mm's cosine cost volume has no temperature")


def maftp_rules() -> List[KeyRule]:
    """MAFT+ (``MAFT_Plus``: open_clip ConvNeXt CLIP with a fused text
    attention, ``cdt`` = ``ContentDependentTransfer``)."""
    return [
        KeyRule(MAFTP_CDT + 'multihead_attn.', 'text_adapter.attn.'),
        KeyRule(MAFTP_CDT + 'norm.', 'text_adapter.norm.'),
        KeyRule(MAFTP_CDT + 'MLP.', 'text_adapter.proj.'),
        *_clip_rules(MAFTP_CLIP, MAFTP_LOGIT_SCALE_REASON),
        KeyRule('backbone_t.', None, TEACHER_REASON),
        KeyRule('sem_seg_head.', None, MASK_HEAD_REASON),
        KeyRule('criterion.', None, MASK_HEAD_REASON),
        KeyRule('void_embedding.weight', None, VOID_REASON),
    ]


MAFTP_CONVERTER = CheckpointConverter(
    'MAFT+', maftp_rules(), fused_qkv=True, keep_fused=('text_adapter.', ))


def check_covered_by_template(state_dict: Mapping[str, Any],
                              template: Mapping[str, Any],
                              name: str = 'MAFT+') -> List[str]:
    """Every key of ``state_dict`` must be in ``template`` with its shape.

    Returns:
        The template keys ``state_dict`` does not hold (sorted), e.g. the
        cost-volume neck and decoder that MAFT+ does not have.

    Raises:
        ValueError: keys the model does not have, or shape mismatches (all
            listed).
    """
    unexpected = sorted(k for k in state_dict if k not in template)
    mismatch = [
        f'{k}: checkpoint {tuple(v.shape)} vs model '
        f'{tuple(template[k].shape)}' for k, v in state_dict.items()
        if k in template and hasattr(template[k], 'shape')
        and tuple(v.shape) != tuple(template[k].shape)
    ]
    if unexpected or mismatch:
        raise ValueError(
            f'{name}: the converted checkpoint does not fit the model: '
            f'unexpected keys [{_listing(unexpected)}]; shape mismatches '
            f'[{_listing(mismatch)}] (wrong --config, e.g. ConvNeXt-B vs -L, '
            'or text_adapter.embed_dims?)')
    return sorted(k for k in template
                  if k not in state_dict and k != EXTRA_STATE_KEY)


def convert_maftp(
        official: Mapping[str, Any],
        template: Mapping[str, Any]) -> Tuple[StateDict, List[str], str]:
    """Official MAFT+ state dict -> (dcp_mm state dict, model keys it does
    not cover, summary text).

    Raises:
        KeyError: official keys without a rule (all listed).
        ValueError: converted keys the model does not have, or shapes.
    """
    state_dict, report = MAFTP_CONVERTER.convert(official, None)
    missing = check_covered_by_template(state_dict, template)
    prefixes: Dict[str, int] = {}
    for k in missing:
        head = '.'.join(k.split('.')[:2])
        prefixes[head] = prefixes.get(head, 0) + 1
    summary = (f'{report.summary()}\n  not in the MAFT+ checkpoint '
               f'({len(missing)} model keys, trained from scratch): ' +
               ', '.join(f'{p}.* ({n})' for p, n in prefixes.items()))
    return state_dict, missing, summary


def convert_maftp_checkpoint(src: str, dst: str, config: str) -> str:
    """Load ``src``, convert, check against the model of ``config``, save
    ``dst`` (mmengine checkpoint; meta lists dropped and uncovered keys).

    Returns:
        The summary (counts, dropped keys by reason, uncovered keys).
    """
    official = load_official_checkpoint(src)
    state_dict, missing, summary = convert_maftp(official,
                                                 model_template(config))
    cfg = Config.fromfile(config)
    meta = dict(
        converted_from=osp.basename(src),
        converter=MAFTP_CONVERTER.name,
        config=osp.basename(config),
        not_in_checkpoint=missing,
        cfg=cfg.pretty_text)
    meta[MODEL_META_KEY] = model_meta(
        cfg.model, train_vocabulary=official_train_vocabulary())
    torch.save(dict(meta=meta, state_dict=state_dict), dst)
    return f'{summary}\nconfig: {config}\nsaved: {dst}'
