"""Small configurations for tests and examples (no downloads).

``dcp-tiny`` is a randomly initialised CLIP (ViT patch 8, width 64, 4 blocks;
text width 32): everything runs in seconds on a CPU.
"""
from typing import List

TINY_VOCABULARY = ('cat', 'dog', 'grass', 'sky', 'car')

# --cfg-options that shrink configs/dcp/dcp_vitb16_cocostuff.py (and the
# configs that inherit it) to the tiny architecture at 64 px
TINY_CFG_OPTIONS: List[str] = [
    'model.pretrained=None',
    'model.backbone.model_name=dcp-tiny',
    'model.backbone.out_indices=(2,3)',
    'model.text_encoder.model_name=dcp-tiny',
    'model.text_encoder.templates=single',
    'model.decode_head.window_size=4',
    'model.data_preprocessor.size=(64,64)',
    'model.test_cfg.crop_size=(64,64)',
    'model.test_cfg.stride=(48,48)',
]


def tiny_dcp_model_cfg(**overrides) -> dict:
    """A DCP-CLIP model config on the tiny random CLIP ('dcp-tiny').

    32 px inputs, patch 8 (4 x 4 grid), P = 2 templates, vocabulary of 5
    names; every switch at the full model's default. Keyword arguments
    replace top-level keys.
    """
    cfg = dict(
        type='OpenVocabEncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor',
            mean=[122.7709383, 116.7460125, 104.09373615],
            std=[68.5005327, 66.6321579, 70.3231630],
            bgr_to_rgb=True,
            size=(32, 32)),
        pretrained=None,
        backbone=dict(
            type='CLIPViTBackbone',
            model_name='dcp-tiny',
            out_indices=(2, 3),
            with_attn=True,
            finetune='attention'),
        text_encoder=dict(
            type='OpenCLIPTextEncoder',
            model_name='dcp-tiny',
            templates=['a photo of a {}.', 'a {} in the scene.'],
            finetune='frozen'),
        selector=dict(type='DCPCategorySelector', tau=0.5),
        neck=dict(
            type='DCPTextGuidedAlignNeck',
            cost_dims=16,
            guidance_dims=16,
            prompt_dims=8,
            sa_patch_dims=8,
            num_heads=2),
        decode_head=dict(
            type='DCPSpatialEnhancedHead',
            in_channels=16,
            channels=4,
            decoder_dims=(8, 4),
            shallow_dims=(4, 2),
            shallow_up_dims=(8, 4),
            cost_guidance_dims=(4, 2),
            se_shallow_dims=4,
            se_attn_dims=4,
            attn_pool_size=2,
            num_heads=2,
            window_size=2),
        post_processor=dict(type='DCPTagValidator', top_k=2),
        train_vocabulary=list(TINY_VOCABULARY),
        test_cfg=dict(mode='whole'))
    cfg.update(overrides)
    return cfg
