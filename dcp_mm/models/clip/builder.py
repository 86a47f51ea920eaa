"""Build open_clip CLIP models and prepare their towers for fine-tuning.

``build_clip_model`` creates an open_clip ``CLIP`` (architecture from
open_clip's bundled configs, or the tiny test architecture ``'dcp-tiny'``
defined here) and fills it with weights from ``pretrained``:

* ``None``: random initialisation, logged as a WARNING;
* ``'openai'`` (or any open_clip tag): open_clip's download path. The local
  Hugging Face cache and open_clip's download cache are tried first; when
  ``HF_HUB_OFFLINE`` is set or the download host cannot be reached within a
  few seconds, a clear ``RuntimeError`` is raised instead of open_clip's
  ~48 s of retries;
* a local file: OpenAI's TorchScript ``.pt`` archive, an open_clip state dict
  (``.pt/.pth/.bin``) or a ``.safetensors`` file.

``split_qkv_projections`` re-parametrises every ``nn.MultiheadAttention`` of a
tower from the fused ``in_proj_weight`` (3C, C) into separate
``q_proj_weight`` / ``k_proj_weight`` / ``v_proj_weight`` (C, C) parameters
(PyTorch's own ``_qkv_same_embed_dim=False`` layout, which is also the layout
of CAT-Seg's ``model_vpt`` checkpoints), so that CAT-Seg's "attention"
fine-tuning (train q and v, freeze k) is a plain ``requires_grad`` choice.
"""
import logging
import os
import os.path as osp
import socket
import warnings
import zipfile
from copy import deepcopy
from types import MappingProxyType
from typing import Dict, List, Optional
from urllib.parse import urlsplit

import open_clip
import torch
import torch.nn as nn
from mmengine.logging import print_log

TINY_ARCH = 'dcp-tiny'

# Architecture data of our own (open_clip's global registry stays untouched).
# A 4-layer ViT (patch 8, width 64, 32 px -> 4x4 grid) and a 2-layer text
# transformer, for fast offline tests.
_OWN_ARCHS = MappingProxyType({
    TINY_ARCH:
    dict(
        embed_dim=32,
        vision_cfg=dict(
            image_size=32, layers=4, width=64, head_width=16, patch_size=8),
        text_cfg=dict(
            context_length=77, vocab_size=49408, width=32, heads=2, layers=2)),
    # timm ConvNeXt-atto tower (strides 4..32) for the SED tests
    'dcp-tiny-convnext':
    dict(
        embed_dim=32,
        vision_cfg=dict(
            timm_model_name='convnext_atto',
            timm_model_pretrained=False,
            timm_pool='',
            timm_proj='linear',
            timm_drop=0.0,
            timm_drop_path=0.0,
            image_size=64),
        text_cfg=dict(
            context_length=77, vocab_size=49408, width=32, heads=2, layers=2)),
})

FINETUNE_MODES = ('frozen', 'attention', 'attention+pos', 'full')
_TRUE = ('1', 'on', 'yes', 'true')


def list_clip_models() -> List[str]:
    """Names accepted by :func:`build_clip_model`."""
    return list(open_clip.list_models()) + list(_OWN_ARCHS)


def tokenizer_name(model_name: str) -> str:
    """open_clip model name whose tokenizer ``model_name`` uses.

    ``'dcp-tiny'`` uses the standard CLIP BPE tokenizer (the one of
    ``'ViT-B-16'``, bundled with open_clip, offline).
    """
    return 'ViT-B-16' if model_name in _OWN_ARCHS else model_name


def _model_config(model_name: str) -> dict:
    if model_name in _OWN_ARCHS:
        return deepcopy(dict(_OWN_ARCHS[model_name]))
    cfg = open_clip.get_model_config(model_name)
    if cfg is None or ':' in model_name:
        raise ValueError(
            f'unknown CLIP model_name {model_name!r}; valid names: '
            f'{list_clip_models()}')
    return cfg


def _offline() -> bool:
    env = (
        os.environ.get('HF_HUB_OFFLINE')
        or os.environ.get('TRANSFORMERS_OFFLINE') or '')
    return env.strip().lower() in _TRUE


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the host of ``url`` opens quickly."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == 'https' else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout):
            return True
    except OSError:
        return False


def _cached_tag_file(cfg: dict) -> Optional[str]:
    """Path of already-downloaded weights of an open_clip tag, else None."""
    from huggingface_hub import try_to_load_from_cache
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
    hub = cfg.get('hf_hub', '')
    if hub:
        repo_id, filename = os.path.split(hub)
        filename = filename or HF_WEIGHTS_NAME
        # the files open_clip's download_pretrained would take, safetensors
        # first (open_clip's public constants; the cache lookup is Hugging
        # Face's public try_to_load_from_cache, which never goes online)
        names = [filename]
        if filename == HF_WEIGHTS_NAME:
            names.insert(0, HF_SAFE_WEIGHTS_NAME)
        elif filename.endswith(('.bin', '.pth')):
            names.insert(0, filename[:-4] + '.safetensors')
        for name in names:
            path = try_to_load_from_cache(repo_id, name)
            if isinstance(path, str):  # a cached file (else None / missing)
                return path
    url = cfg.get('url', '')
    if url:
        path = osp.join(
            osp.expanduser('~/.cache/clip'), osp.basename(urlsplit(url).path))
        if osp.isfile(path):
            return path
    return None


def _download_tag(model_name: str, tag: str) -> str:
    """Local path of the weights of an open_clip tag, failing fast offline."""
    cfg = open_clip.get_pretrained_cfg(model_name, tag)
    hint = ('set model.pretrained to a local file (OpenAI .pt, open_clip '
            'state dict, or .safetensors) or None for random init')
    if not cfg:
        raise ValueError(
            f'{tag!r} is neither a local file nor a pretrained tag of '
            f'{model_name}; tags: '
            f'{open_clip.list_pretrained_tags_by_model(model_name)}; {hint}')
    path = _cached_tag_file(cfg)
    if path is not None:
        return path
    source = cfg.get('url', '')
    if cfg.get('hf_hub'):
        from huggingface_hub import constants
        source = constants.ENDPOINT
    if _offline():
        reason = 'HF_HUB_OFFLINE is set and they are not in the local cache'
    elif not _reachable(source):
        reason = 'the download host is unreachable (offline?)'
    else:
        try:
            return open_clip.download_pretrained(cfg)
        except Exception as e:  # network / hub errors
            reason = f'the download failed ({type(e).__name__}: {e})'
    raise RuntimeError(f'could not obtain CLIP weights {tag!r} for '
                       f'{model_name}: {reason}; {hint}')


def _is_torchscript(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(
            n.split('/')[-1] == 'constants.pkl' and n.count('/') <= 1
            for n in zf.namelist())


def load_clip_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read CLIP weights from a local file into an open_clip state dict.

    ``.safetensors`` files are read with safetensors. OpenAI's TorchScript
    ``.pt`` archives are read with ``torch.jit.load``: this runs code from the
    archive, so only use such files from a trusted source (the user-provided
    ``model.pretrained`` file or open_clip's checksum-verified download).
    Everything else is read with ``torch.load(weights_only=True)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'CLIP weights file {path!r} not found: fix model.pretrained '
            "(a local file, 'openai', or None for random init).")
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        state_dict = load_file(path, device='cpu')
    elif _is_torchscript(path):
        with warnings.catch_warnings():  # torch.jit deprecation notice
            warnings.simplefilter('ignore', FutureWarning)
            archive = torch.jit.load(path, map_location='cpu')
        # drop the archive's scalar attributes and non-persistent buffers
        state_dict = {
            k: v
            for k, v in archive.state_dict().items()
            if k not in ('input_resolution', 'context_length',
                         'vocab_size') and not k.endswith('attn_mask')
        }
    else:
        state_dict = torch.load(path, map_location='cpu', weights_only=True)
    if isinstance(state_dict, dict) and 'state_dict' in state_dict:
        state_dict = state_dict['state_dict']
    if not isinstance(state_dict, dict) or not state_dict:
        raise ValueError(f'{path!r} does not hold a CLIP state dict')
    if all(k.startswith('module.') for k in state_dict):
        state_dict = {k[len('module.'):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def build_clip_model(model_name: str,
                     pretrained: Optional[str],
                     quick_gelu: Optional[bool] = None) -> open_clip.CLIP:
    """Build an open_clip ``CLIP`` model and load its weights.

    Args:
        model_name: an open_clip architecture (``'ViT-B-16'``, ``'ViT-L-14'``,
            ...) or ``'dcp-tiny'`` (tests).
        pretrained: ``None`` (random init, WARNING), an open_clip tag such as
            ``'openai'``, or a local weights file (see
            :func:`load_clip_state_dict`).
        quick_gelu: activation of the MLPs. ``None`` -> True (QuickGELU), the
            activation OpenAI CLIP was trained with; every method in dcp_mm
            starts from OpenAI CLIP. Pass False for GELU-trained weights
            (e.g. LAION tags of open_clip).

    Returns:
        An fp32 ``open_clip.CLIP`` on CPU in train mode.

    Raises:
        ValueError: unknown ``model_name`` (the message lists valid names) or
            unknown tag.
        FileNotFoundError: ``pretrained`` looks like a path but is missing.
        RuntimeError: a tag's weights cannot be obtained (offline).
    """
    cfg = _model_config(model_name)
    cfg['quick_gelu'] = True if quick_gelu is None else bool(quick_gelu)
    if cfg.pop('custom_text', False) or 'hf_model_name' in cfg.get(
            'text_cfg', {}):
        raise ValueError(
            f'{model_name} has a custom (e.g. Hugging Face) text tower; only '
            'CLIP models with the standard text transformer are supported.')
    path = None
    if pretrained is not None:
        if not isinstance(pretrained, str):
            raise TypeError('model.pretrained must be a str or None, got '
                            f'{type(pretrained).__name__}')
        looks_like_path = (
            osp.sep in pretrained or osp.splitext(pretrained)[1]
            in ('.pt', '.pth', '.bin', '.safetensors', '.ckpt'))
        if osp.isfile(pretrained) or looks_like_path:
            path = pretrained
        elif model_name in _OWN_ARCHS:
            raise ValueError(
                f'{model_name!r} has no pretrained tags; set model.pretrained '
                'to a local file or None.')
        else:
            path = _download_tag(model_name, pretrained)
    model = open_clip.CLIP(**cfg)
    if path is None:
        print_log(
            f'CLIP {model_name}: no pretrained weights, the image and text '
            'towers are RANDOMLY initialised; set model.pretrained '
            "('openai' or a local weights file) for real CLIP features.",
            logger='current',
            level=logging.WARNING)
    else:
        state_dict = load_clip_state_dict(path)
        open_clip.model.resize_pos_embed(state_dict, model)
        open_clip.model.resize_text_pos_embed(state_dict, model)
        state_dict.pop('logit_bias', None)
        try:
            model.load_state_dict(state_dict, strict=True)
        except RuntimeError as e:
            raise RuntimeError(
                f'{path!r} does not match the CLIP architecture '
                f'{model_name}: {e}') from e
        print_log(
            f'CLIP {model_name}: loaded weights from {path}',
            logger='current',
            level=logging.INFO)
    return model


def _split_in_proj_hook(module: nn.Module, state_dict: dict, prefix: str,
                        *args) -> None:
    """Load-state-dict pre-hook: accept fused ``in_proj_weight`` keys."""
    key = prefix + 'in_proj_weight'
    if key in state_dict:
        q, k, v = state_dict.pop(key).chunk(3, dim=0)
        state_dict[prefix + 'q_proj_weight'] = q
        state_dict[prefix + 'k_proj_weight'] = k
        state_dict[prefix + 'v_proj_weight'] = v


def split_qkv_projections(tower: nn.Module) -> None:
    """Give every ``nn.MultiheadAttention`` separate q/k/v weights, in place.

    The fused ``in_proj_weight`` (3C, C) becomes ``q_proj_weight``,
    ``k_proj_weight`` and ``v_proj_weight`` (C, C) parameters (rows 0:C,
    C:2C, 2C:3C); ``in_proj_bias`` (3C,) stays fused. The module then runs
    PyTorch's ``_qkv_same_embed_dim=False`` code path, which is numerically
    the same attention. Checkpoints with fused keys still load (a
    load-state-dict pre-hook splits them).
    """
    for mha in tower.modules():
        if not isinstance(mha, nn.MultiheadAttention):
            continue
        if not mha._qkv_same_embed_dim:
            continue  # already split
        assert mha.in_proj_weight is not None, 'fused weight expected'
        q, k, v = mha.in_proj_weight.detach().chunk(3, dim=0)
        del mha.in_proj_weight
        mha.register_parameter('in_proj_weight', None)
        mha.q_proj_weight = nn.Parameter(q.clone())
        mha.k_proj_weight = nn.Parameter(k.clone())
        mha.v_proj_weight = nn.Parameter(v.clone())
        mha._qkv_same_embed_dim = False
        mha.register_load_state_dict_pre_hook(_split_in_proj_hook)


def apply_finetune(tower: nn.Module, mode: str) -> List[str]:
    """Set ``requires_grad`` of a CLIP tower for a fine-tuning mode.

    Modes (CAT-Seg ``MODEL.SEM_SEG_HEAD.CLIP_FINETUNE``):
        ``'frozen'``: nothing trains.
        ``'attention'``: only ``q_proj_weight`` and ``v_proj_weight`` of
        every attention block train (the tower must have gone through
        :func:`split_qkv_projections`); ``in_proj_bias``, k, ``out_proj``,
        MLPs, LayerNorms, embeddings and projections stay frozen. This is
        what the official CAT-Seg code trains: its ``'position'`` rule only
        applies to names containing ``'transformer'``, which the positional
        embeddings do not (CAT-Seg cat_seg/third_party/model_vpt.py).
        ``'attention+pos'``: ``'attention'`` plus the positional embedding,
        as the CAT-Seg paper text describes it.
        ``'full'``: every parameter trains.

    Returns:
        The names of the trainable parameters.

    Raises:
        ValueError: unknown mode.
    """
    if mode not in FINETUNE_MODES:
        raise ValueError(f'finetune must be one of {FINETUNE_MODES}, got '
                         f'{mode!r}')
    names = []
    for name, param in tower.named_parameters():
        is_qv = name.endswith(('attn.q_proj_weight', 'attn.v_proj_weight'))
        is_pos = name.split('.')[-1] == 'positional_embedding'
        train = (
            mode == 'full' or (mode != 'frozen' and is_qv)
            or (mode == 'attention+pos' and is_pos))
        param.requires_grad_(train)
        if train:
            names.append(name)
    if mode.startswith('attention') and not any('attn' in n for n in names):
        raise ValueError(f'finetune={mode!r} found no q/v projection '
                         'weights: call split_qkv_projections first.')
    return names


def clip_paramwise_cfg(lr_mult: float = 0.01) -> dict:
    """mmengine ``paramwise_cfg`` giving the CLIP towers a smaller LR.

    Use as ``optim_wrapper = dict(..., paramwise_cfg=clip_paramwise_cfg())``;
    the keys match ``backbone.visual`` (:class:`CLIPViTBackbone`) and
    ``text_encoder.text`` (:class:`OpenCLIPTextEncoder`).
    """
    return dict(
        custom_keys={
            'backbone.visual': dict(lr_mult=lr_mult),
            'text_encoder.text': dict(lr_mult=lr_mult),
        })
