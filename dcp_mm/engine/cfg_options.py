"""One ``--cfg-options`` parser and checker for every tool.

mmengine's ``Config.merge_from_dict`` silently adds any key, so a typo
(``model.test_cfg.mdoe=whole``) changes nothing and goes unnoticed.
:func:`check_cfg_options` refuses such keys before the run starts. A key is
known when it exists in the config, or when the code that reads the
config accepts it although the shipped configs do not set it:

* a dict with a ``type`` accepts the ``__init__`` arguments of that class
  (and of its base classes), looked up in mmseg's / mmengine's registries
  (e.g. ``train_cfg.val_begin`` of ``IterBasedTrainLoop``,
  ``default_hooks.checkpoint.max_keep_ckpts``);
* sections the mmengine ``Runner`` reads without a type:
  :data:`RUNNER_SECTIONS` (``randomness``, ``env_cfg``, dataloaders, ...).
"""
import argparse
import copy
import difflib
import inspect
import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from mmengine.config import Config, DictAction
from mmengine.logging import print_log

_MISSING = object()

_DATALOADER_KEYS = frozenset({
    'batch_size', 'num_workers', 'persistent_workers', 'pin_memory',
    'drop_last', 'collate_fn', 'sampler', 'batch_sampler', 'dataset',
    'worker_init_fn', 'prefetch_factor', 'timeout', 'shuffle', 'generator',
    'pin_memory_device', 'multiprocessing_context'
})
RUNNER_SECTIONS: Dict[str, frozenset] = {
    'randomness':
    frozenset({'seed', 'diff_rank_seed', 'deterministic'}),
    'env_cfg':
    frozenset({'cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit'}),
    'env_cfg.mp_cfg':
    frozenset({'mp_start_method', 'opencv_num_threads'}),
    'train_dataloader':
    _DATALOADER_KEYS,
    'val_dataloader':
    _DATALOADER_KEYS,
    'test_dataloader':
    _DATALOADER_KEYS,
    'log_processor':
    frozenset({
        'window_size', 'by_epoch', 'custom_cfg', 'num_digits',
        'log_with_hierarchy', 'mean_pattern', 'type'
    }),
    'val_cfg':
    frozenset({'type', 'fp16'}),
    'test_cfg':
    frozenset({'type', 'fp16'}),
    'train_cfg':
    frozenset({
        'type', 'by_epoch', 'max_iters', 'max_epochs', 'val_begin',
        'val_interval', 'dynamic_intervals'
    }),
    'auto_scale_lr':
    frozenset({'enable', 'base_batch_size'}),
    'data_check':
    frozenset({'skip_bad'}),
}
"""Sections the mmengine ``Runner`` (or dcp_mm's tools) read by key, and
the keys they accept."""
_TOP_LEVEL = frozenset({
    'work_dir', 'experiment_name', 'train_dataloader', 'val_dataloader',
    'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr',
    'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from',
    'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level',
    'visualizer', 'default_scope', 'randomness', 'compile', 'strategy',
    'runner_type', 'custom_imports', 'partial_load', 'data_check'
})


class CfgOptionsError(ValueError):
    """``--cfg-options`` keys that no code reads (typos)."""


def parse_cfg_options(options: Sequence[str]) -> dict:
    """Parse ``key=value`` strings exactly as ``--cfg-options`` does
    (mmengine ``DictAction``).

    Raises:
        ValueError: an option has no ``=``.
    """
    bad = [o for o in options if '=' not in o]
    if bad:
        raise ValueError(f'cfg options must be key=value, got {bad}')
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction, default={})
    return parser.parse_args(['--o', *options]).o if options else {}


def _registered_class(type_name: str) -> Optional[type]:
    from mmengine import registry as mme
    from mmseg import registry as mms
    names = [n for n in dir(mms) if n.isupper()]
    for reg in [getattr(mms, n) for n in names
                ] + [getattr(mme, n) for n in dir(mme) if n.isupper()]:
        if not hasattr(reg, 'get'):
            continue
        try:
            cls = reg.get(type_name)
        except Exception:  # noqa: B902  (a registry that cannot import)
            cls = None
        if inspect.isclass(cls):
            return cls
    return None


def _init_arguments(cls: type) -> Set[str]:
    """Arguments of ``cls.__init__`` and its bases' (for ``**kwargs``)."""
    names: Set[str] = {'type'}
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        names |= {
            p.name
            for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        } - {'self'}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names


def _accepted(path: str, node: Any) -> Set[str]:
    """Keys the reading code accepts under ``path`` (beyond the existing
    ones)."""
    if not path:
        return set(_TOP_LEVEL)
    accepted = set(RUNNER_SECTIONS.get(path, ()))
    if isinstance(node, Mapping) and isinstance(node.get('type'), str):
        cls = _registered_class(node['type'].split('.')[-1])
        if cls is not None:
            accepted |= _init_arguments(cls)
    return accepted


def _child(node: Any, part: str) -> Any:
    if isinstance(node, Mapping):
        return node.get(part, _MISSING)
    if isinstance(node, (list, tuple)) and part.lstrip('-').isdigit():
        idx = int(part)
        return node[idx] if -len(node) <= idx < len(node) else _MISSING
    return _MISSING


def _as_dict(cfg: Any) -> Any:
    if isinstance(cfg, Config):
        return cfg.to_dict()
    return copy.deepcopy(cfg)


def unknown_cfg_option_keys(cfg: Any,
                            options: Mapping) -> List[Tuple[str, str]]:
    """The dotted keys of ``options`` that no code reads.

    Args:
        cfg: the loaded config (or its dict), before merging the options.
        options: ``--cfg-options`` as parsed by ``DictAction``
            (``{'a.b.c': value}``); integer parts index lists.

    Returns:
        list of (key, reason) for every unknown key; the reason names the
        first unknown part and close matches among the known keys there.
    """
    original = _as_dict(cfg)
    merged = Config(copy.deepcopy(original))
    try:
        merged.merge_from_dict(dict(options))
    except Exception:  # noqa: B902  (reported key by key below)
        pass
    merged = merged.to_dict()
    unknown = []
    for key in options:
        node, new = original, merged
        parts = str(key).split('.')
        for depth, part in enumerate(parts):
            where = '.'.join(parts[:depth])
            child = _child(node, part)
            if child is not _MISSING:
                node = child
                new = _child(new, part)
                continue
            accepted = _accepted(where, new) if isinstance(new,
                                                           Mapping) else set()
            if part in accepted:
                # a new key the code reads: what is below it is checked
                # against its own accepted keys
                new = _child(new, part)
                node = {}
                if not isinstance(new, Mapping):
                    break
                continue
            place = where or '<top level>'
            reason = f'{part!r} is not a key of {place}'
            if isinstance(new, Mapping):
                known = {
                    str(k)
                    for k in (node if isinstance(node, Mapping) else {})
                } | accepted
                close = difflib.get_close_matches(part, sorted(known), n=3)
                if close:
                    reason += f' (did you mean {", ".join(close)}?)'
            elif isinstance(node, (list, tuple)):
                reason += f' (a list of length {len(node)})'
            else:
                reason += f' ({place} is a {type(node).__name__})'
            unknown.append((key, reason))
            break
    return unknown


def format_unknown_cfg_options(unknown: List[Tuple[str, str]]) -> str:
    """One message listing :func:`unknown_cfg_option_keys` results."""
    lines = [f'  {key}: {reason}' for key, reason in unknown]
    return ('--cfg-options keys that no code reads (mmengine would add them '
            'as new keys and change nothing; check for typos):\n' +
            '\n'.join(lines))


def check_cfg_options(cfg: Any,
                      options: Optional[Mapping],
                      allow_unknown: bool = False) -> None:
    """Refuse (or, with ``allow_unknown``, warn once about) unknown
    ``--cfg-options`` keys; call before merging and before the run starts.

    Raises:
        CfgOptionsError: unknown keys and not ``allow_unknown``; the
            message lists each with did-you-mean suggestions and the flag
            that accepts them.
    """
    if not options:
        return
    unknown = unknown_cfg_option_keys(cfg, options)
    if not unknown:
        return
    msg = format_unknown_cfg_options(unknown)
    if not allow_unknown:
        raise CfgOptionsError(msg + '\n(to add new keys deliberately, pass '
                              '--allow-unknown-cfg-options)')
    print_log(msg, logger='current', level=logging.WARNING)


def fix_persistent_workers(cfg: Any) -> None:
    """``persistent_workers`` needs ``num_workers > 0`` (torch asserts):
    turn it off for every dataloader of ``cfg`` that has no workers, so
    ``--cfg-options train_dataloader.num_workers=0`` works alone."""
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if loader and loader.get('num_workers', 0) == 0 and loader.get(
                'persistent_workers', False):
            loader['persistent_workers'] = False
