"""check_tensor_contracts on stand-in parts (no CLIP needed)."""
import pytest
import torch.nn as nn

from dcp_mm.models.layers.tensor_contract import (TENSORS, as_contract,
                                                  check_tensor_contracts,
                                                  specs_conflict)


class Part(nn.Module):
    """A part with a given contract."""

    def __init__(self, requires=None, provides=None, hints=None) -> None:
        super().__init__()
        self.requires = requires or {}
        self.provides = provides or {}
        self.contract_hints = hints or {}


class Backbone(Part):
    pass


class Head(Part):
    pass


def test_as_contract_and_specs():
    assert as_contract(None) == {}
    assert as_contract({'attn'}) == {'attn': None}
    assert as_contract(dict(dense_embeds=8)) == {'dense_embeds': 8}
    with pytest.raises(ValueError, match=r"unknown tensor names \['nope'\]"):
        as_contract({'nope'})
    assert not specs_conflict(None, 3) and not specs_conflict(3, None)
    assert specs_conflict(3, 4) and not specs_conflict(3, 3)
    assert not specs_conflict((16, None), (16, 2))
    assert specs_conflict((16, None), (32, 2))
    assert specs_conflict((1, 2), (1, 2, 3))
    assert all(info.provider for info in TENSORS.values())


def test_check_passes_and_uses_defaults():
    parts = [('backbone', Backbone(provides=dict(dense_embeds=8, attn=None))),
             ('selector', None),
             ('decode_head',
              Head(requires=dict(dense_embeds=8, attn=None, selection=None)))]
    with pytest.raises(ValueError, match='selector None does not provide'):
        check_tensor_contracts(parts)
    check_tensor_contracts(parts, defaults=dict(selector={'selection'}))


def test_missing_names_both_parts_and_hints():
    parts = [('backbone', Backbone(provides={'dense_embeds'})),
             ('decode_head',
              Head(
                  requires={'grid_feats', 'attn', 'dense_embeds'},
                  hints=dict(attn='set decode_head.fuse_attn=False')))]
    with pytest.raises(ValueError) as info:
        check_tensor_contracts(parts)
    msg = str(info.value)
    assert msg.startswith('cannot compose decode_head Head with backbone '
                          'Backbone: Head needs ')
    assert 'grid_feats (' in msg and 'attn (' in msg
    assert '(or set decode_head.fuse_attn=False)' in msg
    # parts come in flow order: a later part cannot provide
    with pytest.raises(
            ValueError,
            match=r'Head needs dense_embeds \(.* and '
            r'grid_feats \(.* and attn \('):
        check_tensor_contracts(parts[::-1])


def test_size_mismatch():
    parts = [('neck', Part(provides=dict(cost_features=(16, 2)))),
             ('decode_head', Head(requires=dict(cost_features=(32, None))))]
    with pytest.raises(
            ValueError,
            match=r'decode_head Head with neck Part: Head needs '
            r'cost_features with \(d, P\) = \(32, None\), neck Part gives '
            r'\(d, P\) = \(16, 2\). Fix: set decode_head.in_channels'):
        check_tensor_contracts(parts)
