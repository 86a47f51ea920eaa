"""Every shipped model config computes what it computed when the golden
file was recorded (``golden_outputs.py``; re-record only for an intended
change of behaviour, named in the commit message).

Compared: test-mode logits and training losses (1e-5 absolute and
relative: float32 rounding differs by CPU with the same pinned stack;
recorded on another machine, logits were up to 2e-6 off on an AMD EPYC,
while a changed operation moves them by orders of magnitude more), the
sums of all logits (1e-5 relative), predicted labels (a near-tie may
flip: at most 0.1 %, 1 of 3840 seen), selected categories, on the tiny
random CLIPs with name-seeded parameters, and the state-dict keys /
shapes of the full-size models
(checkpoints and the official-checkpoint converters depend on them).
"""
import pytest
import torch
from golden_outputs import (CONFIG_DIR, GOLDEN_FILE, full_size_keys,
                            run_config, shipped_configs, unpack_keys)

GOLDEN = torch.load(GOLDEN_FILE, weights_only=False)


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    """One thread, as when recording: the order of float reductions (and
    so the last bits) depends on the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


CONFIGS = [str(p.relative_to(CONFIG_DIR)) for p in shipped_configs()]


def test_every_shipped_config_is_recorded():
    assert len(CONFIGS) > 0, 'no configs found'
    assert sorted(GOLDEN['outputs']) == CONFIGS, (
        'configs were added or removed since the golden file was recorded: '
        'run tests/test_models/test_segmentors/golden_outputs.py')


@pytest.mark.parametrize('rel', CONFIGS)
def test_outputs_unchanged(rel):
    want = GOLDEN['outputs'][rel]
    got = run_config(CONFIG_DIR / rel)
    assert got['selected'] == want['selected'], 'selected categories differ'
    torch.testing.assert_close(
        got['seg_logits'], want['seg_logits'], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        got['checksums'], want['checksums'], atol=1e-4, rtol=1e-5)
    # a near-tie may flip across CPUs (1 of 3840 labels seen): at most 0.1 %
    flipped = (got['pred'] != want['pred']).float().mean().item()
    assert flipped <= 1e-3, f'{flipped:.2%} of the predicted labels differ'
    assert got['losses'].keys() == want['losses'].keys()
    for k, v in want['losses'].items():
        assert got['losses'][k] == pytest.approx(v, rel=1e-5, abs=1e-5), k


def test_full_size_state_dict_keys_unchanged():
    want = unpack_keys(GOLDEN['keys'])
    for rel in CONFIGS:
        got = {k: list(v) for k, v in full_size_keys(CONFIG_DIR / rel).items()}
        missing = sorted(set(want[rel]) - set(got))
        extra = sorted(set(got) - set(want[rel]))
        assert not missing and not extra, (
            f'{rel}: keys missing {missing[:5]}, unexpected {extra[:5]}')
        shapes = [k for k in got if got[k] != want[rel][k]]
        assert not shapes, f'{rel}: shapes differ for {shapes[:5]}'
