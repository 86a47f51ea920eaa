"""Report ``--cfg-options`` keys that do not exist in the config."""
import difflib
from typing import Any, List, Mapping, Tuple

_MISSING = object()


def _child(node: Any, part: str) -> Any:
    if isinstance(node, Mapping):
        return node.get(part, _MISSING)
    if isinstance(node, (list, tuple)) and part.lstrip('-').isdigit():
        idx = int(part)
        return node[idx] if -len(node) <= idx < len(node) else _MISSING
    return _MISSING


def unknown_cfg_option_keys(cfg: Mapping,
                            options: Mapping) -> List[Tuple[str, str]]:
    """The dotted keys of ``options`` that are not in ``cfg``.

    mmengine's ``Config.merge_from_dict`` silently adds any key, so a typo
    (``optim_wrapper.optimzer.lr=...``) changes nothing and goes unnoticed.

    Args:
        cfg: the loaded config or its dict (before merging the options).
        options: ``--cfg-options`` as parsed by ``DictAction``
            (``{'a.b.c': value}``); integer parts index lists.

    Returns:
        list of (key, reason) for every key whose path leaves the config;
        reason names the first missing part and close matches among the
        existing keys at that level.
    """
    if hasattr(cfg, '_cfg_dict'):  # mmengine Config (not a Mapping)
        cfg = cfg._cfg_dict
    unknown = []
    for key in options:
        node = cfg
        parts = str(key).split('.')
        for depth, part in enumerate(parts):
            child = _child(node, part)
            if child is _MISSING:
                where = '.'.join(parts[:depth]) or '<top level>'
                reason = f'{part!r} is not a key of {where}'
                if isinstance(node, Mapping):
                    close = difflib.get_close_matches(
                        part, [str(k) for k in node.keys()], n=3)
                    if close:
                        reason += f' (did you mean {", ".join(close)}?)'
                elif isinstance(node, (list, tuple)):
                    reason += f' (a list of length {len(node)})'
                else:
                    reason += f' ({where} is a {type(node).__name__})'
                unknown.append((key, reason))
                break
            node = child
    return unknown


def format_unknown_cfg_options(unknown: List[Tuple[str, str]]) -> str:
    """One message listing :func:`unknown_cfg_option_keys` results."""
    lines = [f'  {key}: {reason}' for key, reason in unknown]
    return ('--cfg-options keys that do not exist in the config (they are '
            'added as new keys; check for typos):\n' + '\n'.join(lines))
