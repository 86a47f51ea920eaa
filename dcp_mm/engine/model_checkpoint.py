"""Checkpoints that describe their model, and strict loading into a model.

A dcp_mm checkpoint carries, in ``checkpoint['meta'][MODEL_META_KEY]``
(written by :class:`~dcp_mm.engine.hooks.ModelMetaHook`):

* ``config``: the model config dict as trained (plain Python values);
* ``summary``: the shape-relevant settings in a few words (CLIP
  architecture, template set and count P, selector / neck / head types);
* ``train_vocabulary``: the seen (training) category names.

mmengine itself adds ``meta['cfg']`` (the whole config as text) and
``meta['dataset_meta']`` (the training dataset's metainfo).

:func:`check_checkpoint_fits` compares a checkpoint with the model about to
receive it: a missing / unexpected key or a shape mismatch is an error that
lists the first keys, the model settings that differ and the
``--cfg-options`` that make the config match; a deliberate partial load
(``strict=False``) logs a table of what was not loaded instead.
:func:`load_model_checkpoint` does check + load for code outside a Runner
(the inferencer); inside a Runner the hook does the check. Checkpoints of
older dcp_mm versions kept the training vocabulary in the segmentor's
``_extra_state`` entry: it is read and removed here.
"""
import logging
import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import BaseTTAModel
from mmengine.runner.checkpoint import load_state_dict

MODEL_META_KEY = 'dcp_model'
EXTRA_STATE_KEY = '_extra_state'

#: model config keys that do not change the state dict's keys or shapes
#: (nor the meaning of the weights): not compared
IGNORED_MODEL_KEYS = ('train_cfg', 'test_cfg', 'data_preprocessor',
                      'pretrained', 'train_vocabulary', 'test_vocabulary',
                      'init_cfg', 'post_processor', 'unselected_logit')

_MAX_KEYS = 8


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not fit the model it is loaded into."""


def plain(value: Any) -> Any:
    """Config values -> plain dict / list / tuple / str / number / None
    (loads with ``torch.load(weights_only=True)``); other objects become
    their ``repr``."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def model_summary(model_cfg: Mapping,
                  model: Optional[torch.nn.Module] = None) -> Dict[str, Any]:
    """The shape-relevant settings of a model, in a few words.

    Returns:
        dict with ``type``, ``backbone`` (type and CLIP architecture name),
        ``text_encoder`` (CLIP name), ``templates`` (set name or list),
        ``num_templates`` P (from ``model`` when given), ``selector``,
        ``neck``, ``decode_head`` types, ``num_params`` (with ``model``).
    """
    cfg = plain(model_cfg)

    def part(name: str) -> Optional[str]:
        sub = cfg.get(name)
        return sub.get('type') if isinstance(sub, dict) else None

    backbone = cfg.get('backbone') or {}
    text = cfg.get('text_encoder') or {}
    out = dict(
        type=cfg.get('type'),
        backbone=part('backbone'),
        backbone_model=backbone.get('model_name'),
        text_encoder_model=text.get('model_name'),
        templates=text.get('templates', 'imagenet80'),
        selector=part('selector'),
        neck=part('neck'),
        decode_head=part('decode_head'))
    if model is not None:
        te = getattr(model, 'text_encoder', None)
        if te is not None and hasattr(te, 'num_templates'):
            out['num_templates'] = int(te.num_templates)
        out['num_params'] = sum(p.numel() for p in model.parameters())
    return out


def model_meta(model_cfg: Mapping,
               model: Optional[torch.nn.Module] = None,
               train_vocabulary: Optional[List[str]] = None) -> dict:
    """The ``meta[MODEL_META_KEY]`` entry describing a model."""
    if train_vocabulary is None and model is not None:
        train_vocabulary = getattr(model, 'train_vocabulary', None)
    return dict(
        config=plain(model_cfg),
        summary=model_summary(model_cfg, model),
        train_vocabulary=(None if train_vocabulary is None else
                          [str(n) for n in train_vocabulary]))


def _flatten(cfg: Any, prefix: str, out: Dict[str, Any]) -> None:
    if isinstance(cfg, Mapping) and cfg:
        for k, v in cfg.items():
            _flatten(v, f'{prefix}.{k}' if prefix else str(k), out)
    else:
        out[prefix] = cfg


def _comparable(model_cfg: Mapping) -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    cfg = {
        k: v
        for k, v in plain(model_cfg).items() if k not in IGNORED_MODEL_KEYS
    }
    _flatten(cfg, 'model', flat)
    return {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in flat.items()
    }


def _option_value(value: Any) -> str:
    """A value written as ``--cfg-options`` expects it."""
    if isinstance(value, str):
        return value if re.fullmatch(r'[\w./-]+', value) else repr(value)
    if isinstance(value, (list, tuple)):
        inner = ','.join(_option_value(v) for v in value)
        text = f'[{inner}]' if isinstance(value, list) else f'({inner})'
        return f'"{text}"'
    return repr(value)


def config_differences(checkpoint_cfg: Mapping,
                       model_cfg: Mapping) -> List[Tuple[str, Any, Any]]:
    """Model settings that differ: ``[(dotted key, checkpoint value, config
    value)]`` (``'<absent>'`` when one side lacks the key); keys of
    :data:`IGNORED_MODEL_KEYS` are not compared."""
    a, b = _comparable(checkpoint_cfg), _comparable(model_cfg)
    diffs = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, '<absent>'), b.get(key, '<absent>')
        if va != vb:
            diffs.append((key, va, vb))
    return diffs


def format_differences(diffs: List[Tuple[str, Any, Any]]) -> str:
    """Lines ``key: checkpoint X, config Y`` and the fix: the
    ``--cfg-options`` that make the config match the checkpoint, or (for
    another part type, or settings only one side has) building the model
    from the checkpoint's own config."""
    lines = [
        f'  {key}: checkpoint {va!r}, config {vb!r}' for key, va, vb in diffs
    ]
    text = '\n'.join(lines)
    other_model = any(
        key.endswith('.type') or '<absent>' in (va,
                                                vb) or isinstance(va, dict)
        for key, va, vb in diffs)
    from_ckpt = ('give no config: tools/test.py, tools/demo.py and '
                 'OVSegInferencer build the model from the config saved in '
                 'the checkpoint')
    if other_model:
        return text + f'\n  fix: it is another model; {from_ckpt}'
    fixes = [f'{key}={_option_value(va)}' for key, va, _ in diffs]
    return (text + '\n  fix: --cfg-options ' + ' '.join(fixes) +
            f'\n  (or {from_ckpt})')


def checkpoint_model_config(checkpoint: Mapping) -> Optional[dict]:
    """The model config a checkpoint was trained with: ``meta[
    MODEL_META_KEY]['config']``, else parsed from mmengine's
    ``meta['cfg']`` text; None if neither is there."""
    meta = checkpoint.get('meta') or {}
    entry = meta.get(MODEL_META_KEY)
    if isinstance(entry, Mapping) and entry.get('config') is not None:
        return dict(entry['config'])
    text = meta.get('cfg')
    if isinstance(text, str):
        try:
            return Config.fromstring(text, '.py').model.to_dict()
        except Exception:  # noqa: B902  (an unparsable old config)
            return None
    return None


def checkpoint_train_vocabulary(checkpoint: Mapping) -> Optional[List[str]]:
    """Seen categories: ``meta[MODEL_META_KEY]['train_vocabulary']``, or
    the ``_extra_state`` entry of older checkpoints, or None."""
    entry = (checkpoint.get('meta') or {}).get(MODEL_META_KEY)
    if isinstance(entry, Mapping) and entry.get('train_vocabulary'):
        return list(entry['train_vocabulary'])
    state = checkpoint.get('state_dict') or {}
    extra = state.get(EXTRA_STATE_KEY, state.get('module.' + EXTRA_STATE_KEY))
    if isinstance(extra, Mapping) and extra.get('train_vocabulary'):
        return list(extra['train_vocabulary'])
    return None


def _strip(state: Mapping[str, Any]) -> 'OrderedDict[str, Any]':
    """Remove DDP's ``module.`` prefix and the old ``_extra_state``."""
    out = OrderedDict()
    for k, v in state.items():
        k = re.sub(r'^module\.', '', k)
        if k != EXTRA_STATE_KEY:
            out[k] = v
    return out


def _listing(keys: List[str]) -> str:
    more = f' ... (+{len(keys) - _MAX_KEYS} more)' if len(
        keys) > _MAX_KEYS else ''
    return ', '.join(keys[:_MAX_KEYS]) + more


def _likely_cause(missing, unexpected, shapes, diffs) -> str:
    keys = [d[0] for d in diffs]
    causes = []
    if any(k.endswith('.model_name') for k in keys):
        causes.append('another CLIP architecture (model_name)')
    if any('templates' in k for k in keys) or any('cost_embed' in k
                                                  for k, _, _ in shapes):
        causes.append('another template count P '
                      '(model.text_encoder.templates)')
    types = sorted({k.split('.')[1] for k in keys if k.endswith('.type')})
    if types:
        causes.append(f'another {"/".join(types)} type (another model)')
    if causes:
        return '; '.join(causes)
    parts = sorted({k.split('.')[1] for k in keys if k.count('.') >= 2})
    if parts:
        return f'other {"/".join(parts)} settings (listed below)'
    tops = sorted({k.split('.')[0] for k in list(missing) + list(unexpected)})
    if tops:
        return (f'another model: {"/".join(tops)} have other layers '
                '(another head / neck / CLIP architecture?)')
    return 'another layer size (a dimension setting differs)'


def check_checkpoint_fits(model: torch.nn.Module,
                          checkpoint: dict,
                          model_cfg: Optional[Mapping] = None,
                          strict: bool = True,
                          source: str = 'the checkpoint',
                          logger: str = 'current') -> dict:
    """Refuse a checkpoint that does not fit ``model``; set its seen
    vocabulary.

    Compares ``checkpoint['state_dict']`` (``module.`` prefixes removed)
    with ``model.state_dict()``; compares the checkpoint's model config
    (meta) with ``model_cfg``. Removes the old ``_extra_state`` entry in
    place and sets ``model.train_vocabulary`` from the checkpoint. For a
    test-time-augmentation wrapper (``--tta``) the wrapped segmentor is
    compared (mmengine's loader loads into it likewise).

    Args:
        model: the model about to receive the weights.
        checkpoint: the loaded checkpoint dict (modified in place).
        model_cfg: the model config it was built from, for the message.
        strict: True: any missing / unexpected key or shape mismatch is an
            error. False (a deliberate partial load, e.g. CLIP-only or
            converted weights): a table of what is not loaded is logged.
        source: the checkpoint's name, for messages.

    Returns:
        ``checkpoint`` (its ``state_dict`` without ``_extra_state``).

    Raises:
        CheckpointMismatchError: ``strict`` and the keys / shapes differ;
            the message lists the first keys of each kind, the likely
            cause, the differing settings and the ``--cfg-options`` fix.
    """
    if 'state_dict' not in checkpoint:
        raise CheckpointMismatchError(
            f'{source} has no state_dict entry (keys: {sorted(checkpoint)}):'
            ' not an mmengine / dcp_mm checkpoint')
    vocab = checkpoint_train_vocabulary(checkpoint)
    state = _strip(checkpoint['state_dict'])
    checkpoint['state_dict'] = state
    if isinstance(model, BaseTTAModel):  # --tta: as mmengine's loader does,
        model = model.module  # compare with (and load into) the segmentor
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [(k, tuple(state[k].shape), tuple(own[k].shape)) for k in own
              if k in state and torch.is_tensor(state[k])
              and tuple(state[k].shape) != tuple(own[k].shape)]
    ckpt_cfg = checkpoint_model_config(checkpoint)
    diffs = (
        config_differences(ckpt_cfg, model_cfg)
        if ckpt_cfg is not None and model_cfg is not None else [])
    if missing or unexpected or shapes:
        body = []
        if missing:
            body.append(f'  {len(missing)} missing keys: {_listing(missing)}')
        if unexpected:
            body.append(f'  {len(unexpected)} unexpected keys: '
                        f'{_listing(unexpected)}')
        if shapes:
            body.append(f'  {len(shapes)} shape mismatches: ' + _listing(
                [f'{k} {a} (checkpoint) vs {b} (model)'
                 for k, a, b in shapes]))
        if diffs:
            body.append('settings that differ from the checkpoint:\n' +
                        format_differences(diffs))
        text = '\n'.join(body)
        if strict:
            raise CheckpointMismatchError(
                f'{source} does not fit this model; likely cause: '
                f'{_likely_cause(missing, unexpected, shapes, diffs)}.\n'
                f'{text}\nNothing was loaded. For a deliberate partial load '
                '(CLIP-only init, converted weights) set partial_load=True '
                '(tools/train.py --partial-load).')
        rows = [('missing (keep their init)', len(missing)),
                ('unexpected (ignored)', len(unexpected)),
                ('shape mismatch (keep their init)', len(shapes))]
        table = '\n'.join(f'| {what:<33} | {n:>6} |' for what, n in rows)
        print_log(
            f'partial load of {source} (partial_load=True): not loaded\n'
            f'| {"entries":<33} | {"count":>6} |\n|{"-" * 35}|{"-" * 7}:|\n'
            f'{table}\n{text}',
            logger=logger,
            level=logging.WARNING)
    elif diffs:
        print_log(
            f'{source} loads exactly, but these model settings differ from '
            f'the ones it was trained with:\n{format_differences(diffs)}',
            logger=logger,
            level=logging.WARNING)
    if vocab is not None and hasattr(model, 'train_vocabulary'):
        model.train_vocabulary = list(vocab)
    return checkpoint


def load_model_checkpoint(model: torch.nn.Module,
                          checkpoint: dict,
                          model_cfg: Optional[Mapping] = None,
                          strict: bool = True,
                          source: str = 'the checkpoint') -> dict:
    """:func:`check_checkpoint_fits`, then load the weights (all of them,
    or with ``strict=False`` those that fit)."""
    check_checkpoint_fits(model, checkpoint, model_cfg, strict, source)
    # strict: the check above already refused any mismatch; non-strict is
    # the explicit partial load whose missing keys it logged as a table
    load_state_dict(model, checkpoint['state_dict'], strict=strict)
    return checkpoint


def config_from_checkpoint(path: str) -> Config:
    """The whole config a checkpoint was trained with (mmengine's
    ``meta['cfg']``), with ``model.pretrained=None`` (every weight comes
    from the checkpoint), ``load_from`` = ``path`` and ``resume=False``.

    Raises:
        FileNotFoundError / CheckpointCorruptedError: see
            :func:`~dcp_mm.engine.checkpoint_io.load_local_checkpoint`.
        ValueError: the checkpoint holds no config (not written by an
            mmengine runner): pass the config explicitly.
    """
    from .checkpoint_io import load_local_checkpoint
    checkpoint = load_local_checkpoint(path, map_location='cpu')
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    text = (meta or {}).get('cfg')
    if not isinstance(text, str):
        raise ValueError(
            f'checkpoint {path!r} holds no config (meta["cfg"] is missing: '
            'it was not saved by an mmengine / dcp_mm training run): pass '
            'the model config explicitly')
    cfg = Config.fromstring(text, '.py')
    model_cfg = checkpoint_model_config(checkpoint)
    if model_cfg is not None:
        cfg.model = model_cfg
    cfg.model.pretrained = None
    cfg.load_from = path
    cfg.resume = False
    return cfg
