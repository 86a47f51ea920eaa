"""Key-rule engine of the official-checkpoint converters.

A converter is a list of :class:`KeyRule` (official key pattern <-> dcp_mm
key pattern) plus two layout changes that are not a renaming:

* fused attention input projections: an official ``attn.in_proj_weight``
  (3C, C) becomes dcp_mm's ``attn.q_proj_weight`` / ``k_proj_weight`` /
  ``v_proj_weight`` (C, C) (rows 0:C, C:2C, 2C:3C, the layout of
  ``nn.MultiheadAttention`` and of dcp_mm's ``split_qkv_projections``);
  ``in_proj_bias`` stays fused on both sides;
* dropped keys: official tensors without a dcp_mm counterpart. Each drop
  rule states its reason; a derived Swin ``attn_mask`` is checked against
  the mask dcp_mm recomputes at run time before it is dropped.

Every official key must match a rule (else ``KeyError``); with a template
(the dcp_mm model's state dict) every model key must be produced, with the
same shape (else ``ValueError`` naming the keys).
"""
import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Pattern, Tuple

import numpy as np
import torch
from torch import Tensor

StateDict = Dict[str, Tensor]
EXTRA_STATE_KEY = '_extra_state'
QKV_NAMES = ('q_proj_weight', 'k_proj_weight', 'v_proj_weight')
FUSED_QKV_NAME = 'in_proj_weight'
_MAX_LISTED = 20


@dataclass(frozen=True)
class KeyRule:
    """One correspondence between official and dcp_mm keys.

    Patterns: ``{i}`` (at most once) matches a block index, equal on both
    sides; a pattern ending in ``'.'`` is a prefix (the rest of the key is
    kept), any other pattern is a whole key.

    Attributes:
        official: official key pattern.
        dcp: dcp_mm key pattern, or None: the official key is dropped.
        reason: why a key is dropped (required when ``dcp`` is None).
        anchor: for an indexed drop rule, a dcp_mm prefix pattern whose
            indices tell :meth:`CheckpointConverter.to_official` which
            official keys to regenerate.
    """
    official: str
    dcp: Optional[str]
    reason: str = ''
    anchor: Optional[str] = None

    def __post_init__(self) -> None:
        pats = [self.official] + [p for p in (self.dcp, self.anchor) if p]
        for p in pats:
            assert p.count('{i}') <= 1, f'at most one {{i}} in {p!r}'
        if self.dcp is None:
            assert self.reason, f'drop rule {self.official!r} needs a reason'
            assert ('{i}' in self.official) == bool(self.anchor), \
                f'indexed drop rule {self.official!r} needs an anchor'
        else:
            assert self.official.endswith('.') == self.dcp.endswith('.'), \
                f'{self.official!r} / {self.dcp!r}: prefix vs whole key'
            assert ('{i}' in self.official) == ('{i}' in self.dcp), \
                f'{self.official!r} / {self.dcp!r}: {{i}} on one side only'


def _compile(pattern: str) -> Pattern:
    body = r'(?P<i>\d+)'.join(re.escape(p) for p in pattern.split('{i}'))
    if pattern.endswith('.'):
        body += r'(?P<rest>.+)'
    return re.compile(f'^{body}$')


def _fill(template: str, match: 're.Match') -> str:
    groups = match.groupdict()
    out = template.replace('{i}', groups.get('i') or '')
    return out + (groups.get('rest') or '')


def _listing(keys: List[str]) -> str:
    shown = ', '.join(keys[:_MAX_LISTED])
    more = len(keys) - _MAX_LISTED
    return shown + (f' ... (+{more} more)' if more > 0 else '')


def swin_shift_mask(grid: int, window: int) -> Tensor:
    """The shifted-window mask (nW, window^2, window^2) of a square grid.

    The mask dcp_mm's ``GuidedWindowAttention`` recomputes at run time
    (shift = window // 2, 0 / -100), which the official Swin blocks store as
    the persistent buffer ``attn_mask``.
    """
    from dcp_mm.models.layers.guided_swin_block import _shift_mask
    return _shift_mask(grid, grid, window, window // 2, torch.device('cpu'))


@dataclass
class ConversionReport:
    """What a conversion did with every official key.

    Attributes:
        name: converter name.
        mapped: official key -> the dcp_mm key(s) it became.
        dropped: official key -> the reason it has no dcp_mm counterpart.
        dropped_tensors: official key -> the dropped tensor (for an exact
            :meth:`CheckpointConverter.to_official`).
    """
    name: str
    mapped: Dict[str, List[str]] = field(default_factory=dict)
    dropped: Dict[str, str] = field(default_factory=dict)
    dropped_tensors: StateDict = field(default_factory=dict)

    @property
    def num_official(self) -> int:
        return len(self.mapped) + len(self.dropped)

    def summary(self) -> str:
        """Counts, and the dropped keys grouped by reason."""
        n_dcp = sum(len(v) for v in self.mapped.values())
        lines = [
            f'{self.name}: {self.num_official} official keys: '
            f'{len(self.mapped)} mapped to {n_dcp} dcp_mm keys, '
            f'{len(self.dropped)} dropped'
        ]
        by_reason: Dict[str, List[str]] = {}
        for key, reason in self.dropped.items():
            by_reason.setdefault(reason, []).append(key)
        for reason, keys in by_reason.items():
            lines.append(f'  dropped {len(keys)} ({reason}): {_listing(keys)}')
        return '\n'.join(lines)


def _as_tensor(key: str, value: Any) -> Tensor:
    """Checkpoint value -> tensor (numpy arrays of detectron2 .pkl files)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        return torch.from_numpy(np.array(value, copy=True))
    raise TypeError(f'official key {key!r} holds a {type(value).__name__}, '
                    'not a tensor or numpy array')


class CheckpointConverter:
    """Official <-> dcp_mm state dicts through a list of :class:`KeyRule`.

    Args:
        name: converter name (reports, errors).
        rules: key rules, the first match wins (in both directions), so
            specific rules must come before general prefixes.
        fused_qkv: whether the official checkpoints store attention input
            projections fused (``in_proj_weight``); used by
            :meth:`to_official`. :meth:`convert` splits fused weights
            whatever this flag says.
        keep_fused: dcp_mm key prefixes whose attention keeps the fused
            ``in_proj_weight`` (modules without ``split_qkv_projections``,
            e.g. MAFT+'s CDT): :meth:`convert` does not split them.
        swin_grid, swin_window: grid and window of the official Swin
            ``attn_mask`` buffers (24 and 12 in both released CAT-Seg
            configs): :meth:`convert` refuses masks of another grid or
            window (the weights would load, but the dcp_mm config would
            compute a different model), :meth:`to_official` regenerates
            them.
    """

    def __init__(self,
                 name: str,
                 rules: List[KeyRule],
                 *,
                 fused_qkv: bool,
                 keep_fused: Tuple[str, ...] = (),
                 swin_grid: int = 24,
                 swin_window: int = 12) -> None:
        self.name = name
        self.rules = list(rules)
        self.fused_qkv = fused_qkv
        self.keep_fused = tuple(keep_fused)
        self.swin_grid = swin_grid
        self.swin_window = swin_window
        self._official = [_compile(r.official) for r in self.rules]
        self._dcp = [_compile(r.dcp) if r.dcp else None for r in self.rules]
        self._anchor = [
            _compile(r.anchor) if r.anchor else None for r in self.rules
        ]

    # ------------------------------------------------------------ key level
    def match_official(self, key: str) -> Tuple[KeyRule, Optional[str]]:
        """The rule of an official key and its dcp_mm key (None: dropped).

        Raises:
            KeyError: no rule matches ``key``.
        """
        for rule, rx in zip(self.rules, self._official):
            m = rx.match(key)
            if m:
                return rule, (_fill(rule.dcp, m) if rule.dcp else None)
        raise KeyError(f'{self.name}: unknown official key {key!r}')

    def official_key(self, dcp_key: str) -> str:
        """The official key of a dcp_mm key (q/k/v weights: unfused).

        Raises:
            KeyError: no rule produces ``dcp_key``.
        """
        for rule, rx in zip(self.rules, self._dcp):
            m = rx.match(dcp_key) if rx else None
            if m:
                return _fill(rule.official, m)
        raise KeyError(f'{self.name}: dcp_mm key {dcp_key!r} has no official '
                       'counterpart')

    # ----------------------------------------------------------- tensors
    def _check_dropped(self, key: str, value: Tensor) -> None:
        """Refuse a derived buffer that dcp_mm would not recompute."""
        if not key.endswith('attn_mask') or value.is_meta:
            return
        ok = value.dim() == 3 and value.shape[1] == value.shape[2]
        if ok:
            n_win, length = value.shape[0], value.shape[-1]
            window, per_side = math.isqrt(length), math.isqrt(n_win)
            ok = window**2 == length and per_side**2 == n_win
        if ok:
            expected = swin_shift_mask(per_side * window, window)
            ok = torch.equal(value.to(expected.dtype), expected)
        if ok and (per_side * window, window) != (self.swin_grid,
                                                  self.swin_window):
            raise ValueError(
                f'{self.name}: official {key!r} is the mask of a '
                f'{per_side * window}x{per_side * window} grid with window '
                f'{window}, not the released {self.swin_grid} / '
                f'{self.swin_window}: set the dcp_mm config (crop size, '
                'neck.window_size) to match and convert with a converter '
                'built for it.')
        if not ok:
            raise ValueError(
                f'{self.name}: official {key!r} {tuple(value.shape)} is not '
                'the shifted-window mask (shift = window // 2, 0 / -100) '
                'that dcp_mm recomputes at run time; dcp_mm cannot represent '
                'this model.')

    def _regenerate(self, key: str) -> Tensor:
        if key.endswith('attn_mask'):
            return swin_shift_mask(self.swin_grid, self.swin_window)
        if key.endswith('logit_scale'):
            # CLIP's clamp value ln(100), frozen in CAT-Seg and SED
            return torch.tensor(math.log(100.0))
        raise KeyError(f'{self.name}: cannot regenerate dropped {key!r}; '
                       'pass it in `dropped`')

    def convert(
        self,
        official: Mapping[str, Any],
        template: Optional[Mapping[str, Any]] = None
    ) -> Tuple[StateDict, ConversionReport]:
        """Official state dict -> dcp_mm state dict.

        Args:
            official: the official model's state dict (tensors or numpy
                arrays), keys as in the detectron2 checkpoint's ``'model'``.
            template: the dcp_mm model's state dict (tensors, possibly on
                the meta device) to check keys and shapes against; None
                skips the check.

        Returns:
            The dcp_mm state dict (official key order) and the report.

        Raises:
            KeyError: official keys that match no rule (all listed).
            ValueError: two keys mapping to one, a bad fused weight or
                derived buffer, or (with a template) missing / unexpected
                keys or shape mismatches (each named).
        """
        out: StateDict = {}
        source: Dict[str, str] = {}
        report = ConversionReport(self.name)
        unknown = []
        for key, value in official.items():
            value = _as_tensor(key, value)
            try:
                rule, dcp_key = self.match_official(key)
            except KeyError:
                unknown.append(key)
                continue
            if dcp_key is None:
                self._check_dropped(key, value)
                report.dropped[key] = rule.reason
                report.dropped_tensors[key] = value
                continue
            if dcp_key.endswith('.' + FUSED_QKV_NAME) and \
                    not dcp_key.startswith(self.keep_fused):
                if value.dim() != 2 or value.shape[0] != 3 * value.shape[1]:
                    raise ValueError(
                        f'{self.name}: {key!r} {tuple(value.shape)} is not a '
                        'fused (3C, C) attention input projection')
                base = dcp_key[:-len(FUSED_QKV_NAME)]
                pieces = {
                    base + n: p.clone()
                    for n, p in zip(QKV_NAMES, value.chunk(3, dim=0))
                }
            else:
                pieces = {dcp_key: value}
            for new_key, tensor in pieces.items():
                if new_key in out:
                    raise ValueError(
                        f'{self.name}: {key!r} and {source[new_key]!r} both '
                        f'map to {new_key!r}')
                out[new_key] = tensor
                source[new_key] = key
            report.mapped[key] = list(pieces)
        if unknown:
            raise KeyError(
                f'{self.name}: {len(unknown)} official keys match no '
                f'conversion rule (not a {self.name} checkpoint, or a '
                f'variant the converter does not know): {_listing(unknown)}')
        if template is not None:
            check_against_template(out, template, source, self.name)
        return out, report

    def to_official(
            self,
            state_dict: Mapping[str, Any],
            dropped: Optional[Mapping[str, Tensor]] = None) -> StateDict:
        """dcp_mm state dict -> official state dict (the inverse).

        Args:
            state_dict: a dcp_mm state dict (the ``_extra_state`` entry of
                older dcp_mm checkpoints is ignored).
            dropped: official tensors without a dcp_mm counterpart to put
                back verbatim (``ConversionReport.dropped_tensors``); keys
                under a dropped prefix come back only from here. Missing
                single keys are regenerated: Swin ``attn_mask`` exactly
                (derived), CLIP ``logit_scale`` as ln(100) (CLIP's clamp
                value).

        Raises:
            KeyError: dcp_mm keys without an official counterpart.
            ValueError: an incomplete q/k/v triple to fuse.
        """
        out: StateDict = {}
        triples: Dict[str, Dict[str, Tensor]] = {}
        unknown = []
        for key, value in state_dict.items():
            if key == EXTRA_STATE_KEY:
                continue
            name = key.rsplit('.', 1)[-1]
            if self.fused_qkv and name in QKV_NAMES:
                base = key[:-len(name)]
                triples.setdefault(base, {})[name] = value
                continue
            try:
                out[self.official_key(key)] = value
            except KeyError:
                unknown.append(key)
        if unknown:
            raise KeyError(f'{self.name}: {len(unknown)} dcp_mm keys have no '
                           f'official counterpart: {_listing(unknown)}')
        for base, parts in triples.items():
            if set(parts) != set(QKV_NAMES):
                raise ValueError(f'{self.name}: {base}* needs all of '
                                 f'{QKV_NAMES} to fuse, got {sorted(parts)}')
            fused = torch.cat([parts[n] for n in QKV_NAMES], dim=0)
            out[self.official_key(base + FUSED_QKV_NAME)] = fused
        dropped = dict(dropped or {})
        for rule, rx, anchor in zip(self.rules, self._official, self._anchor):
            if rule.dcp is not None:
                continue
            if rule.official.endswith('.'):
                # a dropped prefix (a whole module): put back what was
                # dropped, nothing can be regenerated
                out.update({k: v for k, v in dropped.items() if rx.match(k)})
                continue
            if anchor is None:
                keys = [rule.official]
            else:
                indices = sorted(
                    {m['i']
                     for m in map(anchor.match, state_dict) if m},
                    key=int)
                keys = [rule.official.replace('{i}', i) for i in indices]
            for key in keys:
                out[key] = (
                    dropped[key] if key in dropped else self._regenerate(key))
        return out


def check_against_template(state_dict: Mapping[str, Any],
                           template: Mapping[str, Any],
                           source: Optional[Mapping[str, str]] = None,
                           name: str = 'converter') -> None:
    """Raise unless ``state_dict`` has exactly the keys and shapes of
    ``template`` (a model's state dict; non-tensor entries: key only).

    Args:
        source: dcp_mm key -> official key, to name both in errors.

    Raises:
        ValueError: lists the missing keys, the unexpected keys and every
            shape mismatch.
    """
    source = source or {}

    def origin(k: str) -> str:
        return f' (from {source[k]!r})' if k in source else ''

    missing = [k for k in template if k not in state_dict]
    unexpected = [k + origin(k) for k in state_dict if k not in template]
    mismatched = []
    for k, ref in template.items():
        if k in state_dict and hasattr(ref, 'shape'):
            got = getattr(state_dict[k], 'shape', None)
            if got is None or tuple(got) != tuple(ref.shape):
                mismatched.append(
                    f'{k}{origin(k)}: checkpoint '
                    f'{tuple(got) if got is not None else None} vs model '
                    f'{tuple(ref.shape)}')
    problems = []
    if missing:
        problems.append(f'{len(missing)} model keys not produced (no '
                        f'official counterpart): {_listing(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} keys not in the model: '
                        f'{_listing(unexpected)}')
    if mismatched:
        problems.append(f'{len(mismatched)} shape mismatches: '
                        f'{_listing(mismatched)}')
    if problems:
        raise ValueError(f'{name}: the converted checkpoint does not match '
                         'the dcp_mm model (wrong --config for this '
                         'checkpoint?):\n  ' + '\n  '.join(problems))
