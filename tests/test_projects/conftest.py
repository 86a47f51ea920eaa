"""Tiny SAN models (random init, 64 px, T = 5) built from project configs.

The repository root goes on ``sys.path`` so that the configs'
``custom_imports`` (``projects.<project>.<package>``) resolve, as when the
tools run from the repository root with ``PYTHONPATH=.``.
"""
import copy
import sys
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, List

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
PROJECTS = REPO_ROOT / 'projects'

VOCAB = ['cat', 'dog', 'sky', 'tree', 'road']
C_V, D = 32, 16  # tiny CLIP width and joint embedding dim
SIZE = 64  # input pixels; the CLIP encoder sees 32 px = 4 x 4 patches of 8


def tiny_san_model(num_classes: int = len(VOCAB)) -> dict:
    """Overrides that shrink mmseg's SAN ViT-B/16 config to a tiny SAN."""
    return dict(
        pretrained=None,
        image_encoder=dict(
            img_size=(32, 32),
            patch_size=8,
            embed_dims=C_V,
            num_layers=2,
            num_heads=2,
            out_indices=(0, 1)),
        text_encoder=dict(
            dataset_name=None,
            vocabulary=list(VOCAB),
            templates=['a photo of a {}.'],
            embed_dims=C_V,
            num_layers=1,
            num_heads=2,
            output_dims=D),
        decode_head=dict(
            num_classes=num_classes,
            deep_supervision_idxs=[1],
            san_cfg=dict(
                clip_channels=C_V,
                embed_dims=24,
                patch_size=8,
                num_queries=4,
                cfg_encoder=dict(num_encode_layer=2, num_heads=2),
                fusion_index=[0, 1, 2],
                cfg_decoder=dict(
                    num_heads=2, embed_channels=16, mlp_channels=16)),
            maskgen_cfg=dict(
                sos_token_num=4,
                num_layers=2,
                embed_dims=C_V,
                num_heads=2,
                out_dims=D),
            train_cfg=dict(num_points=64)),
        data_preprocessor=dict(size_divisor=32))


@lru_cache(maxsize=None)
def _load(config: str) -> Config:
    """Parse a project config once per session (callers deep-copy it)."""
    return Config.fromfile(str(PROJECTS / config))


@pytest.fixture
def build_tiny_san() -> Callable[..., torch.nn.Module]:
    """``build(config_relpath, **model_overrides)`` -> tiny SAN (train mode).

    SAN's ``init_weights`` fails with ``pretrained=None`` (mmseg 1.2.2) and
    ``CLIPTextEncoder`` leaves two parameters ``torch.empty``: they are
    filled here with small random values instead.
    """

    def build(config: str, **model_overrides) -> torch.nn.Module:
        cfg = copy.deepcopy(_load(config))
        cfg.merge_from_dict(dict(model=tiny_san_model()))
        # SAN's classification loss weights T classes + "no object" (0.1)
        cfg.model.decode_head.loss_decode[0].class_weight = \
            [1.0] * len(VOCAB) + [0.1]
        cfg.merge_from_dict(dict(model=model_overrides))
        model = MODELS.build(cfg.model)
        text = model.text_encoder
        torch.nn.init.normal_(text.positional_embedding, std=0.01)
        torch.nn.init.normal_(text.text_projection, std=C_V**-0.5)
        return model

    return build


def tiny_samples(batch: int = 2) -> List[SegDataSample]:
    """Label maps (1, 64, 64): class 1 top half, 3 on the left, 255 rows."""
    samples = []
    for i in range(batch):
        seg = torch.zeros(1, SIZE, SIZE, dtype=torch.long)
        seg[:, :SIZE // 2] = 1
        seg[:, :, :SIZE // 4] = 3 + i  # 3 in image 0, 4 in image 1
        seg[:, -4:] = 255
        ds = SegDataSample(gt_sem_seg=PixelData(data=seg))
        ds.set_metainfo(
            dict(
                img_shape=(SIZE, SIZE),
                ori_shape=(SIZE, SIZE),
                pad_shape=(SIZE, SIZE),
                padding_size=[0, 0, 0, 0]))
        samples.append(ds)
    return samples


@pytest.fixture
def tiny_batch() -> Callable[[torch.nn.Module], Dict]:
    """``make(model, batch=2)`` -> preprocessed dict(inputs, data_samples)."""

    def make(model: torch.nn.Module, batch: int = 2) -> Dict:
        gen = torch.Generator().manual_seed(0)
        imgs = [
            torch.randint(0, 256, (3, SIZE, SIZE), generator=gen).float()
            for _ in range(batch)
        ]
        return model.data_preprocessor(
            dict(inputs=imgs, data_samples=tiny_samples(batch)), True)

    return make


def _one_step_trains(model: torch.nn.Module, data: Dict) -> dict:
    """One training forward/backward: finite losses, finite gradients."""
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total), f'non-finite loss {losses}'
    total.backward()
    trainable = [(n, p) for n, p in model.named_parameters()
                 if p.requires_grad]
    assert trainable, 'no trainable parameters'
    missing = [n for n, p in trainable if p.grad is None]
    assert not missing, f'no gradient for {missing[:5]}'
    bad = [n for n, p in trainable if not torch.isfinite(p.grad).all()]
    assert not bad, f'non-finite gradients in {bad[:5]}'
    return losses


@pytest.fixture
def one_step_trains() -> Callable[[torch.nn.Module, Dict], dict]:
    """``check(model, data)`` -> losses of one checked training step."""
    return _one_step_trains
