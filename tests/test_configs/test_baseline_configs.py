"""CAT-Seg and SED configs: official settings, tiny builds and a forward."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
CATSEG = [
    'catseg/catseg_vitb16_cocostuff.py', 'catseg/catseg_vitl14_cocostuff.py'
]
SED = ['sed/sed_convnextb_cocostuff.py', 'sed/sed_convnextl_cocostuff.py']
TINY = {
    'catseg': {
        'model.pretrained': None,
        'model.backbone.model_name': 'dcp-tiny',
        'model.backbone.out_indices': (2, 3),
        'model.text_encoder.model_name': 'dcp-tiny',
        'model.neck.window_size': 4,
        'model.data_preprocessor.size': (64, 64),
        'model.test_cfg.crop_size': (64, 64),
        'model.test_cfg.stride': (48, 48),
    },
    'sed': {
        'model.pretrained': None,
        'model.backbone.model_name': 'dcp-tiny-convnext',
        'model.text_encoder.model_name': 'dcp-tiny-convnext',
        'model.text_encoder.templates': 'single',
        'model.data_preprocessor.size': (64, 64),
        'model.test_cfg.crop_size': (64, 64),
    },
}


def load(rel):
    return Config.fromfile(str(CONFIG_DIR / rel))


@pytest.mark.parametrize('rel', CATSEG)
def test_catseg_official_settings(rel):
    cfg = load(rel)
    m = cfg.model
    assert m.backbone.finetune == 'attention'
    assert m.text_encoder.finetune == 'attention'
    assert m.text_encoder.templates == 'single'
    assert m.text_encoder.synonyms == 'first'
    assert m.backbone.dense_mode == 'maskclip'
    assert m.backbone.dense_residual == 'cls'
    assert m.selector.type == 'CATSegClassPruning'
    assert m.selector.max_categories == 256 and m.neck.pad_len == 256
    assert m.neck.pooling_size == (2, 2)
    assert m.neck.test_pooling_size == (1, 1)
    assert m.decode_head.loss_decode.type == 'CategoryBCELoss'
    assert m.test_cfg.mode == 'slide' and m.test_cfg.global_view
    assert cfg.optim_wrapper.optimizer.lr == 2e-4
    assert cfg.optim_wrapper.clip_grad.max_norm == 0.01
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert keys.backbone.lr_mult == keys.text_encoder.lr_mult == 0.01
    assert cfg.train_cfg.max_iters == 80000
    if 'vitl14' in rel:
        assert m.backbone.out_indices == (8, 16)
        assert m.backbone.model_name == m.text_encoder.model_name == \
            'ViT-L-14-336'
        # CAT-Seg's ViT-L protocol: 384 windows resized to 336 + global view
        assert m.test_cfg.crop_size == (384, 384)
        assert m.test_cfg.stride == (256, 256)
        assert m.test_cfg.window_resize == (336, 336)
        assert m.train_cfg.input_resize == (336, 336)


@pytest.mark.parametrize('rel', SED)
def test_sed_official_settings(rel):
    cfg = load(rel)
    m = cfg.model
    assert m.backbone.type == 'CLIPConvNeXtBackbone'
    assert m.backbone.finetune == 'full'
    assert m.text_encoder.finetune == 'frozen'
    assert m.text_encoder.templates == 'imagenet80'
    assert m.text_encoder.synonyms == 'average'
    assert m.selector is None
    assert m.neck.type == 'DCPTextGuidedAlignNeck'
    assert not m.neck.with_ca and not m.neck.with_sa
    assert m.decode_head.kernel_size == 9
    assert m.data_preprocessor.size == (768, 768)
    assert m.test_cfg == dict(mode='whole', crop_size=(768, 768))
    crop = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t.type == 'RandomCrop'
    ][0]
    assert crop.crop_size == (768, 768)
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert keys.backbone.lr_mult == 0.01
    expect = ('convnext_large_d_320'
              if 'convnextl' in rel else 'convnext_base_w_320')
    assert m.backbone.model_name == m.text_encoder.model_name == expect


@pytest.mark.parametrize('rel', [CATSEG[0], SED[0]])
def test_builds_with_tiny_overrides_and_predicts(rel):
    cfg = load(rel)
    cfg.merge_from_dict(TINY['sed' if rel in SED else 'catseg'])
    model = MODELS.build(cfg.model).eval()
    model.set_vocabulary(['cat', 'dog', 'sky'], 'test')
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        logits = model.inference(img, None)
    assert logits.shape == (1, 3, 64, 64)
    assert torch.isfinite(logits).all()
