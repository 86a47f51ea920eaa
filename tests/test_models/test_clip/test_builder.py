import logging
import os

import open_clip
import pytest
import torch
from safetensors.torch import save_file

import dcp_mm  # noqa: F401
from dcp_mm.models.clip import builder as clip_builder
from dcp_mm.models.clip.builder import (apply_finetune, build_clip_model,
                                        clip_paramwise_cfg, list_clip_models,
                                        split_qkv_projections)


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_tiny_builds_offline_and_warns(monkeypatch):
    logs = []
    monkeypatch.setattr(clip_builder, 'print_log',
                        lambda msg, **kw: logs.append((msg, kw)))
    model = build_clip_model('dcp-tiny', None)
    assert isinstance(model, open_clip.CLIP)
    assert model.visual.proj.shape == (64, 32)
    assert len(model.visual.transformer.resblocks) == 4
    assert len(model.transformer.resblocks) == 2
    assert model.visual.patch_size == (8, 8)
    # QuickGELU by default (OpenAI CLIP), overridable
    assert isinstance(model.visual.transformer.resblocks[0].mlp.gelu,
                      open_clip.transformer.QuickGELU)
    gelu = build_clip_model('dcp-tiny', None, quick_gelu=False)
    assert isinstance(gelu.visual.transformer.resblocks[0].mlp.gelu,
                      torch.nn.GELU)
    msg, kw = logs[0]
    assert kw['level'] == logging.WARNING
    assert 'RANDOMLY' in msg and 'model.pretrained' in msg
    # open_clip's global registry is untouched
    assert 'dcp-tiny' not in open_clip.list_models()
    assert 'dcp-tiny' in list_clip_models()


def test_missing_file_raises():
    path = '/nonexistent/dir/ViT-B-16.pt'
    with pytest.raises(FileNotFoundError, match='model.pretrained') as err:
        build_clip_model('dcp-tiny', path)
    assert path in str(err.value)


def test_unknown_name_and_bad_pretrained():
    with pytest.raises(ValueError, match='ViT-B-16') as err:
        build_clip_model('ViT-X-99', None)
    assert 'dcp-tiny' in str(err.value)
    with pytest.raises(TypeError, match='model.pretrained'):
        build_clip_model('dcp-tiny', 3)
    with pytest.raises(ValueError, match='no pretrained tags'):
        build_clip_model('dcp-tiny', 'openai')
    with pytest.raises(ValueError, match='tags'):
        build_clip_model('ViT-B-16', 'no_such_tag')


@pytest.mark.parametrize('fmt', ['pth', 'wrapped', 'safetensors'])
def test_state_dict_round_trip(tmp_path, fmt):
    torch.manual_seed(0)
    src = build_clip_model('dcp-tiny', None)
    state = src.state_dict()
    if fmt == 'safetensors':
        path = str(tmp_path / 'tiny.safetensors')
        save_file({k: v.contiguous() for k, v in state.items()}, path)
    elif fmt == 'wrapped':
        path = str(tmp_path / 'tiny.bin')
        torch.save(
            {'state_dict': {
                f'module.{k}': v
                for k, v in state.items()
            }}, path)
    else:
        path = str(tmp_path / 'tiny.pth')
        torch.save(state, path)
    torch.manual_seed(1)
    loaded = build_clip_model('dcp-tiny', path)
    _assert_same_weights(src, loaded)


@pytest.mark.filterwarnings('ignore::FutureWarning')
def test_torchscript_archive(tmp_path):
    torch.manual_seed(0)
    src = build_clip_model('dcp-tiny', None)
    path = str(tmp_path / 'tiny_jit.pt')
    torch.jit.script(src).save(path)
    assert clip_builder._is_torchscript(path)
    loaded = build_clip_model('dcp-tiny', path)
    _assert_same_weights(src, loaded)


def test_wrong_architecture_file(tmp_path):
    path = str(tmp_path / 'other.pth')
    torch.save({'visual.proj': torch.zeros(3, 3)}, path)
    with pytest.raises(RuntimeError, match='does not match'):
        build_clip_model('dcp-tiny', path)


def test_openai_offline_fails_fast(monkeypatch):
    # never touch the network or a real cache in tests
    monkeypatch.setattr(clip_builder, '_cached_tag_file', lambda cfg: None)
    monkeypatch.setattr(clip_builder, '_reachable',
                        lambda *a, **k: pytest.fail('network probed'))
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(RuntimeError) as err:
        build_clip_model('ViT-B-16', 'openai')
    msg = str(err.value)
    assert "could not obtain CLIP weights 'openai' for ViT-B-16" in msg
    assert 'model.pretrained' in msg and 'HF_HUB_OFFLINE' in msg


def test_openai_unreachable_fails_fast(monkeypatch):
    monkeypatch.setattr(clip_builder, '_cached_tag_file', lambda cfg: None)
    monkeypatch.setattr(clip_builder, '_reachable', lambda *a, **k: False)
    monkeypatch.delenv('HF_HUB_OFFLINE', raising=False)
    monkeypatch.delenv('TRANSFORMERS_OFFLINE', raising=False)
    with pytest.raises(RuntimeError, match='unreachable.*model.pretrained'):
        build_clip_model('ViT-B-16', 'openai')


def test_openai_uses_local_cache(monkeypatch, tmp_path):
    """A cached tag file is loaded without any network access."""
    torch.manual_seed(0)
    src = build_clip_model('dcp-tiny', None)
    path = str(tmp_path / 'open_clip_model.safetensors')
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, path)
    seen = []

    def fake_cached(cfg):
        seen.append(cfg)
        return path

    monkeypatch.setattr(clip_builder, '_cached_tag_file', fake_cached)
    tiny_cfg = clip_builder._model_config('dcp-tiny')
    # ViT-B-16's 'openai' tag, tiny architecture (keeps the test small)
    monkeypatch.setattr(clip_builder, '_model_config',
                        lambda name: dict(tiny_cfg))
    loaded = build_clip_model('ViT-B-16', 'openai')
    assert seen and seen[0]['quick_gelu'] is True
    _assert_same_weights(src, loaded)


def test_split_qkv_keeps_outputs_and_loads_fused_keys():
    torch.manual_seed(0)
    model = build_clip_model('dcp-tiny', None)
    fused_state = {k: v.clone() for k, v in model.visual.state_dict().items()}
    img = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model.visual(img)
        split_qkv_projections(model.visual)
        out = model.visual(img)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    keys = model.visual.state_dict().keys()
    assert not any('in_proj_weight' in k for k in keys)
    blk = model.visual.transformer.resblocks[0].attn
    c = 64
    assert torch.equal(
        blk.v_proj_weight,
        fused_state['transformer.resblocks.0.attn.in_proj_weight'][2 * c:])
    # an open_clip (fused) state dict still loads into the split tower
    with torch.no_grad():
        blk.q_proj_weight.zero_()
    model.visual.load_state_dict(fused_state, strict=True)
    assert torch.equal(
        blk.q_proj_weight,
        fused_state['transformer.resblocks.0.attn.in_proj_weight'][:c])


def test_apply_finetune_modes():
    model = build_clip_model('dcp-tiny', None)
    with pytest.raises(ValueError, match='split_qkv_projections'):
        apply_finetune(model.visual, 'attention')
    split_qkv_projections(model.visual)
    assert apply_finetune(model.visual, 'frozen') == []
    assert not any(p.requires_grad for p in model.visual.parameters())
    names = apply_finetune(model.visual, 'attention')
    assert names == [
        f'transformer.resblocks.{i}.attn.{w}_proj_weight' for i in range(4)
        for w in 'qv'
    ]
    names = apply_finetune(model.visual, 'attention+pos')
    assert names[0] == 'positional_embedding' and len(names) == 9
    names = apply_finetune(model.visual, 'full')
    assert len(names) == len(list(model.visual.parameters()))
    with pytest.raises(ValueError, match='finetune must be one of'):
        apply_finetune(model.visual, 'lora')


def test_paramwise_cfg_keys():
    cfg = clip_paramwise_cfg(0.1)
    assert cfg == dict(
        custom_keys={
            'backbone.visual': dict(lr_mult=0.1),
            'text_encoder.text': dict(lr_mult=0.1)
        })


def test_offline_env_parsing(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', 'true')
    assert clip_builder._offline()
    monkeypatch.setenv('HF_HUB_OFFLINE', '0')
    monkeypatch.delenv('TRANSFORMERS_OFFLINE', raising=False)
    assert not clip_builder._offline()
    assert os.environ['HF_HUB_OFFLINE'] == '0'


def test_cached_tag_file_finds_the_hub_cache(monkeypatch, tmp_path):
    """An open_clip tag already in the Hugging Face cache is found without
    going online, safetensors first (public APIs only)."""
    import huggingface_hub.constants as hf_constants
    monkeypatch.setattr(hf_constants, 'HF_HUB_CACHE', str(tmp_path))
    cfg = dict(hf_hub='timm/some-clip/')
    assert clip_builder._cached_tag_file(cfg) is None
    repo = tmp_path / 'models--timm--some-clip'
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text('abc123')
    snap = repo / 'snapshots' / 'abc123'
    snap.mkdir(parents=True)
    (snap / 'open_clip_pytorch_model.bin').write_bytes(b'x')
    assert clip_builder._cached_tag_file(cfg) == str(
        snap / 'open_clip_pytorch_model.bin')
    (snap / 'open_clip_model.safetensors').write_bytes(b'x')
    assert clip_builder._cached_tag_file(cfg) == str(
        snap / 'open_clip_model.safetensors')
