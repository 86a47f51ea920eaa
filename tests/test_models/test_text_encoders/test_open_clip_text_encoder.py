import open_clip
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

import dcp_mm  # noqa: F401
from dcp_mm.models.clip.builder import build_clip_model
from dcp_mm.models.text_encoders import OpenCLIPTextEncoder
from dcp_mm.models.utils.prompt_templates import resolve_templates
from dcp_mm.models.utils.vocabulary import split_synonyms

NAMES = ['cat', 'dog, puppy', 'bed ', 'sky', 'potted plant']
TEMPLATES = ['a photo of a {}.', 'There is a {} in the scene']


def build(**kwargs):
    torch.manual_seed(0)
    cfg = dict(
        type='OpenCLIPTextEncoder', model_name='dcp-tiny', templates=TEMPLATES)
    return MODELS.build({**cfg, **kwargs})


def test_forward_shape_norm_and_reference():
    enc = build().eval()
    assert isinstance(enc, OpenCLIPTextEncoder)
    assert (enc.num_templates, enc.embed_dims) == (2, 32)
    out = enc(NAMES)
    assert out.shape == (5, 2, 32)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(5, 2))
    # same weights (same seed) through open_clip's own encode_text
    torch.manual_seed(0)
    clip = build_clip_model('dcp-tiny', None).eval()
    first = [n.split(',')[0].strip() for n in NAMES]
    tokens = open_clip.get_tokenizer('ViT-B-16')(
        [t.format(n) for n in first for t in TEMPLATES])
    with torch.no_grad():
        ref = F.normalize(clip.encode_text(tokens), dim=-1).reshape(5, 2, 32)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_truncated_context_is_exact():
    enc = build().eval()
    tokens = enc.tokenizer(['a', 'a photo of a very large potted plant'])
    length = int(tokens.argmax(-1).max()) + 1
    assert length < 77
    with torch.no_grad():
        full = enc.text(tokens)
        short = enc.text(tokens[:, :length])
    torch.testing.assert_close(short, full, rtol=0, atol=1e-5)
    # chunking does not change the result
    chunked = build(chunk_size=3).eval()
    torch.testing.assert_close(chunked(NAMES), enc(NAMES), rtol=0, atol=1e-6)
    assert chunked.num_text_forwards == 4  # 10 prompts in chunks of 3


@pytest.mark.parametrize('mode', ['attention', 'attention+pos', 'full'])
def test_backward(mode):
    enc = build(finetune=mode).train()
    assert not enc(NAMES).requires_grad  # forward: cached, no gradient
    out = enc.encode_selected(NAMES, torch.arange(len(NAMES)))
    assert out.requires_grad
    (out * torch.randn_like(out)).sum().backward()
    trainable = [(n, p) for n, p in enc.named_parameters() if p.requires_grad]
    assert trainable
    for name, p in trainable:
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    names = [n for n, _ in trainable]
    if mode == 'attention':
        assert names == [
            f'text.transformer.resblocks.{i}.attn.{w}_proj_weight'
            for i in range(2) for w in 'qv'
        ]
    if mode == 'full':
        assert len(names) == len(list(enc.parameters()))


def test_bad_arguments():
    enc = build()
    with pytest.raises(ValueError, match='empty'):
        enc([])
    with pytest.raises(ValueError, match=r"duplicated.*\['cat'\]"):
        enc(['cat', 'dog', 'cat '])
    with pytest.raises(TypeError, match='non-string'):
        enc(['cat', 3])
    with pytest.raises(TypeError, match='string'):
        enc('cat')
    with pytest.raises(ValueError, match='unknown template set'):
        build(templates='imagenet81')
    with pytest.raises(ValueError, match='empty list'):
        build(templates=[])
    with pytest.raises(ValueError, match='slot'):
        build(templates=['a photo of a cat'])
    with pytest.raises(ValueError, match='finetune'):
        build(finetune='prompt')
    with pytest.raises(ValueError, match='synonyms'):
        build(synonyms='all')


def test_cache_hits_and_misses():
    enc = build(finetune='attention').eval()
    first = enc(NAMES)
    assert enc.num_text_forwards == 1
    again = enc(NAMES)
    assert enc.num_text_forwards == 1  # cache hit
    assert torch.equal(again, first) and not again.requires_grad
    again.add_(1.0)  # callers get a copy
    assert torch.equal(enc(NAMES), first)
    enc(NAMES[:4])  # changed vocabulary -> miss
    assert enc.num_text_forwards == 2
    # weights change in place (as an optimizer step does) -> miss
    q = enc.text.transformer.resblocks[0].attn.q_proj_weight
    with torch.no_grad():
        q.mul_(3.0)
    changed = enc(NAMES)
    assert enc.num_text_forwards == 3
    assert not torch.allclose(changed, first)
    # load_state_dict of the original weights: the content hash matches the
    # first entry again -> hit, with the original values
    state = build(finetune='attention').state_dict()
    enc.load_state_dict(state)
    torch.testing.assert_close(enc(NAMES), first, rtol=0, atol=0)
    assert enc.num_text_forwards == 3
    # load_state_dict of new weights -> miss
    key = 'text.transformer.resblocks.1.attn.v_proj_weight'
    state[key] = state[key] * 2
    enc.load_state_dict(state)
    assert not torch.allclose(enc(NAMES), first)
    assert enc.num_text_forwards == 4
    # training mode with a trainable tower: forward stays cached and
    # detached; encode_selected runs the tower with gradient every call
    enc.train()
    out = enc(NAMES)
    assert not out.requires_grad and enc.num_text_forwards == 4
    sel = enc.encode_selected(NAMES, torch.tensor([3, 1]))
    assert sel.requires_grad and enc.num_text_forwards == 5
    torch.testing.assert_close(sel.detach(), out[[3, 1]])
    enc.encode_selected(NAMES, torch.tensor([3, 1]))
    assert enc.num_text_forwards == 6
    enc(NAMES)
    assert enc.num_text_forwards == 6


def test_encode_selected_gradients_and_errors():
    """(U, P, D) with gradient for the U chosen categories only; the rows
    equal forward's cached rows; bad indices are refused."""
    enc = build(finetune='attention').train()
    assert enc.has_trainable_params
    assert not build(finetune='frozen').has_trainable_params
    idx = torch.tensor([4, 0, 2])
    out = enc.encode_selected(NAMES, idx)
    assert out.shape == (3, len(TEMPLATES), enc.embed_dims)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3, 2))
    torch.testing.assert_close(out.detach(), enc(NAMES)[idx])
    out.square().sum().backward()
    for name in enc.trainable_names:
        p = enc.text.get_parameter(name)
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    with pytest.raises(ValueError, match='distinct'):
        enc.encode_selected(NAMES, torch.tensor([1, 1]))
    with pytest.raises(ValueError, match=r'\[0, 5\)'):
        enc.encode_selected(NAMES, torch.tensor([5]))
    with pytest.raises(ValueError, match='1-D integer'):
        enc.encode_selected(NAMES, torch.tensor([[1]]))
    with pytest.raises(ValueError, match='1-D integer'):
        enc.encode_selected(NAMES, torch.tensor([1.0]))
    with pytest.raises(ValueError, match='1-D integer'):
        enc.encode_selected(NAMES, torch.tensor([], dtype=torch.long))


def test_frozen_encoder_computes_once_in_training():
    enc = build(finetune='frozen').train()
    enc(NAMES)
    enc(NAMES)
    assert enc.num_text_forwards == 1


def test_disk_cache_round_trip(tmp_path):
    enc = build(cache_dir=str(tmp_path / 'cache')).eval()
    ref = enc(NAMES)
    files = list((tmp_path / 'cache').glob('*.pth'))
    assert len(files) == 1
    fresh = build(cache_dir=str(tmp_path / 'cache')).eval()
    torch.testing.assert_close(fresh(NAMES), ref, rtol=0, atol=0)
    assert fresh.num_text_forwards == 0  # read from disk
    other = build(
        cache_dir=str(tmp_path / 'cache'), templates=TEMPLATES[:1]).eval()
    other(NAMES)
    assert other.num_text_forwards == 1
    assert len(list((tmp_path / 'cache').glob('*.pth'))) == 2


def test_synonyms_average():
    first = build(synonyms='first').eval()
    avg = build(synonyms='average').eval()
    out_first, out_avg = first(NAMES), avg(NAMES)
    assert out_avg.shape == (5, 2, 32)
    assert not torch.allclose(out_first[1], out_avg[1])
    torch.testing.assert_close(out_first[[0, 2, 3, 4]], out_avg[[0, 2, 3, 4]])
    single = first(['dog', 'puppy'])  # (2, P, D), normalised
    ref = F.normalize(single.mean(dim=0), dim=-1)
    torch.testing.assert_close(out_avg[1], ref, rtol=1e-5, atol=1e-6)


def test_prompt_templates():
    imagenet = resolve_templates('imagenet80')
    assert len(imagenet) == 80 and all('{}' in t for t in imagenet)
    assert imagenet[0] == 'a bad photo of a {}.'
    assert resolve_templates('single') == ['A photo of a {} in the scene']
    assert resolve_templates(('a {}', 'the {}')) == ['a {}', 'the {}']
    with pytest.raises(ValueError, match='duplicates'):
        resolve_templates(['a {}', 'a {}'])
    with pytest.raises(TypeError):
        resolve_templates(['a {}', None])
    assert split_synonyms('bed ') == ['bed']
    assert split_synonyms('bed, couch') == ['bed', 'couch']
    with pytest.raises(ValueError, match='empty'):
        split_synonyms(' , ')
    with pytest.raises(TypeError):
        split_synonyms(None)


def test_synonyms_max_per_synonym_template_average():
    enc = build(synonyms='max').eval()
    assert enc.num_templates == 1  # the neck max-reduces the synonym axis
    out = enc(NAMES)
    assert out.shape == (5, 2, 32)  # S = 2 ('dog, puppy')
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(5, 2))
    per_tpl = build(synonyms='first').eval()(['dog', 'puppy', 'cat'])
    ref = F.normalize(per_tpl.mean(dim=1), dim=-1)  # (3, D)
    torch.testing.assert_close(out[1], ref[:2], rtol=1e-5, atol=1e-6)
    # single-synonym classes repeat their synonym (a max ignores repeats)
    torch.testing.assert_close(out[0, 0], ref[2], rtol=1e-5, atol=1e-6)
    assert torch.equal(out[0, 0], out[0, 1])


def test_vild_templates():
    vild = resolve_templates('vild14')
    assert len(vild) == 14 and len(set(vild)) == 14
    assert vild[0] == 'a photo of a {}.'
    assert vild[1] == 'This is a photo of a {}'
    assert vild[-1] == 'There is a large {} in the scene.'
