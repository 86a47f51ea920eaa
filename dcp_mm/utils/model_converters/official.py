"""Key rules of the official CAT-Seg and SED checkpoints, and checkpoint IO.

Official code: CAT-Seg github.com/cvlab-kaist/CAT-Seg (commit 6d3a188) and
SED github.com/xb534/SED (commit db20d93), both detectron2 projects. Their
checkpoints hold the model under ``'model'``; key lists and shapes are in
the repository's ``tests/data/official_keys.md`` .

=================================  =====================================
official (detectron2)              dcp_mm
=================================  =====================================
``sem_seg_head.predictor.``
``clip_model.visual.*``            ``backbone.visual.*``
``clip_model.`` text tower         ``text_encoder.text.*``
``clip_model.logit_scale``         dropped: unused by both methods
``transformer.conv1``              ``neck.cost_embed``
CAT-Seg ``transformer.layers.N``   ``neck.layers.N`` (``block_1/2`` ->
                                   ``swin_blocks.0/1``, ``attention`` ->
                                   ``class_attention``, ``MLP.0/2`` ->
                                   ``mlp.fc1/fc2``; ``block_2.attn_mask``
                                   dropped: recomputed at run time)
CAT-Seg ``upsample1/2``,           ``decode_head.shallow_up.0/1``,
``decoder_guidance_projection``    ``decode_head.shallow_proj``
``decoderJ.up / conv.double_conv`` ``up_blocks.J-1`` (CAT-Seg) /
                                   ``blocks.J-1.fuse`` (SED) ``.up``,
                                   ``convs.{0,1}.{conv,gn}``
SED ``decoderJ.cnext``             ``blocks.J-1.cnext`` (timm names:
                                   ``dwconv`` -> ``conv_dw``,
                                   ``pwconv1/2`` -> ``mlp.fc1/fc2``)
SED ``decoder_corr_guidance_...``  ``decode_head.cost_up``
``head`` / SED ``head0..2``        ``decode_head.conv_seg`` /
                                   ``decode_head.aux_heads.0..2``
=================================  =====================================
"""
import io
import logging
import os.path as osp
import pickle
import zipfile
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config
from torch import Tensor

from dcp_mm.engine.model_checkpoint import MODEL_META_KEY, model_meta
from .core import CheckpointConverter, KeyRule, StateDict, _as_tensor

PREDICTOR = 'sem_seg_head.predictor.'
CLIP = PREDICTOR + 'clip_model.'
HEAD = PREDICTOR + 'transformer.'

LOGIT_SCALE_REASON = (
    'CLIP logit scale: no dcp_mm parameter; CAT-Seg never uses it and SED '
    'computes exp().clamp(100) but never applies it (both freeze it)')
ATTN_MASK_REASON = (
    'derived Swin shifted-window buffer (0 / -100): dcp_mm recomputes it at '
    'run time; checked equal before dropping')


def _clip_rules(clip: str = CLIP,
                logit_scale_reason: str = LOGIT_SCALE_REASON) -> List[KeyRule]:
    """open_clip / OpenAI CLIP names (image tower, text tower) under the
    official prefix ``clip``."""
    text = 'text_encoder.text.'
    return [
        KeyRule(clip + 'visual.', 'backbone.visual.'),
        KeyRule(clip + 'logit_scale', None, logit_scale_reason),
        KeyRule(clip + 'positional_embedding', text + 'positional_embedding'),
        KeyRule(clip + 'text_projection', text + 'text_projection'),
        KeyRule(clip + 'token_embedding.', text + 'token_embedding.'),
        KeyRule(clip + 'transformer.', text + 'transformer.'),
        KeyRule(clip + 'ln_final.', text + 'ln_final.'),
    ]


def _up_rules(num: int, dst: str, fuse: str, sed: bool) -> List[KeyRule]:
    """Official ``decoder1..num`` (``Up``) -> ``{dst}{j}.{fuse}``."""
    rules = []
    for j in range(num):
        src, blk = f'{HEAD}decoder{j + 1}.', f'{dst}{j}.'
        up = blk + fuse
        rules += [
            KeyRule(src + 'up.', up + 'up.'),
            KeyRule(src + 'conv.double_conv.0.', up + 'convs.0.conv.'),
            KeyRule(src + 'conv.double_conv.1.', up + 'convs.0.gn.'),
            KeyRule(src + 'conv.double_conv.3.', up + 'convs.1.conv.'),
            KeyRule(src + 'conv.double_conv.4.', up + 'convs.1.gn.'),
        ]
        if sed:
            rules += [
                KeyRule(src + 'cnext.dwconv.', blk + 'cnext.conv_dw.'),
                KeyRule(src + 'cnext.pwconv1.', blk + 'cnext.mlp.fc1.'),
                KeyRule(src + 'cnext.pwconv2.', blk + 'cnext.mlp.fc2.'),
                KeyRule(src + 'cnext.', blk + 'cnext.'),  # gamma, norm
                KeyRule(src + 'attention.MLP.0.', blk + 'attention.mlp.fc1.'),
                KeyRule(src + 'attention.MLP.2.', blk + 'attention.mlp.fc2.'),
                KeyRule(src + 'attention.', blk + 'attention.'),
            ]
    return rules


def catseg_rules() -> List[KeyRule]:
    """CAT-Seg (``CATSeg``, model_vpt CLIP with split q/k/v weights)."""
    src, dst = HEAD + 'layers.{i}.', 'neck.layers.{i}.'
    cls = dst + 'class_attention.'
    return _clip_rules() + [
        KeyRule(
            src + 'swin_block.block_2.attn_mask',
            None,
            ATTN_MASK_REASON,
            anchor=dst + 'swin_blocks.1.'),
        KeyRule(src + 'swin_block.block_1.', dst + 'swin_blocks.0.'),
        KeyRule(src + 'swin_block.block_2.', dst + 'swin_blocks.1.'),
        KeyRule(src + 'swin_block.guidance_norm.', dst + 'guidance_norm.'),
        KeyRule(src + 'attention.MLP.0.', cls + 'mlp.fc1.'),
        KeyRule(src + 'attention.MLP.2.', cls + 'mlp.fc2.'),
        KeyRule(src + 'attention.', cls),
        KeyRule(HEAD + 'conv1.', 'neck.cost_embed.'),
        KeyRule(HEAD + 'guidance_projection.0.', 'neck.appearance_proj.'),
        KeyRule(HEAD + 'text_guidance_projection.0.',
                'neck.text_guidance_proj.'),
        KeyRule(HEAD + 'decoder_guidance_projection.{i}.',
                'decode_head.shallow_proj.{i}.'),
        *_up_rules(2, 'decode_head.up_blocks.', '', sed=False),
        KeyRule(HEAD + 'head.', 'decode_head.conv_seg.'),
        KeyRule('upsample1.', 'decode_head.shallow_up.0.'),
        KeyRule('upsample2.', 'decode_head.shallow_up.1.'),
    ]


def sed_rules() -> List[KeyRule]:
    """SED (``SED``, open_clip ConvNeXt CLIP with a fused text attention)."""
    return _clip_rules() + [
        KeyRule(HEAD + 'conv1.', 'neck.cost_embed.'),
        KeyRule(HEAD + 'decoder_guidance_projection.{i}.',
                'decode_head.guidance_proj.{i}.'),
        KeyRule(HEAD + 'decoder_corr_guidance_projection.{i}.',
                'decode_head.cost_up.{i}.'),
        *_up_rules(3, 'decode_head.blocks.', 'fuse.', sed=True),
        KeyRule(HEAD + 'head0.', 'decode_head.aux_heads.0.'),
        KeyRule(HEAD + 'head1.', 'decode_head.aux_heads.1.'),
        KeyRule(HEAD + 'head2.', 'decode_head.aux_heads.2.'),
        KeyRule(HEAD + 'head.', 'decode_head.conv_seg.'),
    ]


CATSEG_CONVERTER = CheckpointConverter(
    'CAT-Seg', catseg_rules(), fused_qkv=False, swin_grid=24, swin_window=12)
SED_CONVERTER = CheckpointConverter('SED', sed_rules(), fused_qkv=True)

#: converter -> (probe key, {probe dim 0: config relative to configs/})
VARIANTS = {
    'CAT-Seg': (CLIP + 'visual.conv1.weight', {
        768: 'catseg/catseg_vitb16_cocostuff.py',
        1024: 'catseg/catseg_vitl14_cocostuff.py'
    }),
    'SED': (CLIP + 'visual.trunk.stem.0.weight', {
        128: 'sed/sed_convnextb_cocostuff.py',
        192: 'sed/sed_convnextl_cocostuff.py'
    }),
}


def detect_config(converter: CheckpointConverter, official: StateDict,
                  config_dir: str) -> str:
    """The dcp_mm config of an official checkpoint, from its CLIP width.

    Raises:
        ValueError: the probe key is missing or its width is unknown.
    """
    probe, by_width = VARIANTS[converter.name]
    if probe not in official:
        raise ValueError(f'{probe!r} not in the checkpoint: not a '
                         f'{converter.name} checkpoint? Pass --config.')
    width = int(official[probe].shape[0])
    if width not in by_width:
        raise ValueError(f'{converter.name} checkpoint with CLIP width '
                         f'{width} ({probe}): no default config for it '
                         f'(known: {by_width}); pass --config.')
    return osp.join(config_dir, by_width[width])


# -------------------------------------------------------------- loading
class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler for detectron2 ``.pkl`` files: dicts of numpy arrays.

    Only numpy array reconstruction and ``OrderedDict`` are allowed, like
    ``torch.load(weights_only=True)``; any other global is refused.
    """
    _ALLOWED = {
        ('collections', 'OrderedDict'),
        ('numpy', 'ndarray'),
        ('numpy', 'dtype'),
    } | {(m, n)
         for m in ('numpy.core.multiarray', 'numpy._core.multiarray')
         for n in ('_reconstruct', 'scalar')}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED or (module == 'numpy.dtypes'
                                               and name.endswith('DType')):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f'refusing to load global {module}.{name} from an official '
            'checkpoint (only numpy arrays are allowed)')


def _extract_model(obj: Any, path: str) -> Dict[str, Any]:
    if isinstance(obj, dict):
        for key in ('model', 'state_dict'):
            if isinstance(obj.get(key), dict):
                return obj[key]
        if obj and all(
                isinstance(v, (Tensor, np.ndarray, np.generic))
                for v in obj.values()):
            return obj
    raise ValueError(f'{path!r}: expected a detectron2 checkpoint (a dict '
                     "with 'model') or a state dict")


def load_official_checkpoint(path: str) -> StateDict:
    """Read an official checkpoint's state dict, safely.

    ``.pth`` (torch.save) files are read with ``torch.load(
    weights_only=True)`` and dcp_mm's allow-list, which includes numpy
    arrays; detectron2 ``.pkl`` files (plain pickles of numpy arrays) with
    an unpickler that only allows numpy arrays. Numpy arrays become tensors.

    Raises:
        FileNotFoundError: missing file.
        pickle.UnpicklingError: the file needs other globals (e.g. an
            optimizer or trainer state); strip it to its ``'model'`` entry in
            a trusted environment first.
        ValueError: no state dict in the file.
    """
    from ..torch_load_compat import allow_mmengine_checkpoint_globals
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} not found')
    allow_mmengine_checkpoint_globals()
    if zipfile.is_zipfile(path):
        obj = torch.load(path, map_location='cpu', weights_only=True)
    else:
        with open(path, 'rb') as f:
            data = f.read()
        obj = _ArrayUnpickler(io.BytesIO(data), encoding='latin1').load()
        if isinstance(obj, int):  # legacy torch.save format (magic number)
            obj = torch.load(path, map_location='cpu', weights_only=True)
    model = _extract_model(obj, path)
    if model and all(k.startswith('module.') for k in model):
        model = {k[len('module.'):]: v for k, v in model.items()}
    return {k: _as_tensor(k, v) for k, v in model.items()}


def model_template(config: str, device: str = 'meta') -> Dict[str, Any]:
    """State dict of the dcp_mm model of ``config`` (``pretrained=None``).

    Built on the meta device by default: keys and shapes, no memory, well
    under a second.
    """
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    cfg = Config.fromfile(config)
    cfg.model.pretrained = None
    init_default_scope('mmseg')
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)  # CLIP's random-init warning
    try:
        with torch.device(device):
            model = MODELS.build(cfg.model)
    finally:
        logger.setLevel(level)
    return model.state_dict()


def official_train_vocabulary() -> List[str]:
    """Seen categories of the official models: COCO-Stuff-171 (CAT-Seg's
    ``datasets/coco.json`` names)."""
    from dcp_mm.datasets.class_names import COCO_STUFF_171_CLASSES
    return list(COCO_STUFF_171_CLASSES)


def convert_checkpoint(converter: CheckpointConverter,
                       src: str,
                       dst: str,
                       config: Optional[str] = None,
                       config_dir: Optional[str] = None) -> str:
    """Load ``src``, convert, check against the model, save ``dst``.

    The output is an mmengine checkpoint ``{'meta': ..., 'state_dict':
    ...}`` for ``load_from`` / ``tools/test.py``.

    Args:
        config: dcp_mm config; None = detected from the CLIP width under
            ``config_dir``.

    Returns:
        The report's summary.
    """
    official = load_official_checkpoint(src)
    if config is None:
        if config_dir is None:
            raise ValueError('pass config or config_dir')
        config = detect_config(converter, official, config_dir)
    state_dict, report = converter.convert(official, model_template(config))
    cfg = Config.fromfile(config)
    meta = dict(
        converted_from=osp.basename(src),
        converter=converter.name,
        config=osp.basename(config),
        dropped_keys=dict(report.dropped),
        # the model's description: tools/test.py and the demo can build it
        # from the checkpoint alone, Tag Validation knows the seen classes
        cfg=cfg.pretty_text)
    meta[MODEL_META_KEY] = model_meta(
        cfg.model, train_vocabulary=official_train_vocabulary())
    torch.save(dict(meta=meta, state_dict=state_dict), dst)
    return f'{report.summary()}\nconfig: {config}\nsaved: {dst}'
