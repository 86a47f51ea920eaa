"""Small configurations for tests and examples (no downloads).

``dcp-tiny`` is a randomly initialised CLIP (ViT patch 8, width 64, 4 blocks;
text width 32): everything runs in seconds on a CPU.
"""
import copy
from typing import Dict, List, Optional

import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

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

# --cfg-options that shrink configs/maftp/maftp-cdt-rc_convnextb_cocostuff.py
# (SED ConvNeXt-B + CDT + RC) to the tiny ConvNeXt CLIP at 64 px: D = 32 for
# the CDT, and RC scales 1 / 2 (the 2 x 2 stride-32 grid has no 4 x 4 pool)
TINY_MAFTP_CFG_OPTIONS: List[str] = [
    'model.pretrained=None',
    'model.backbone.model_name=dcp-tiny-convnext',
    'model.text_encoder.model_name=dcp-tiny-convnext',
    'model.text_encoder.templates=single',
    'model.data_preprocessor.size=(64,64)',
    'model.test_cfg.crop_size=(64,64)',
    'model.text_adapter.embed_dims=32',
    'model.aux_losses.0.scales=(1,2)',
]

# --cfg-options that shrink a DPSeg config (configs/dpseg/) to the tiny
# ConvNeXt CLIP at 64 px with 2 small visual prompts per category
TINY_DPSEG_CFG_OPTIONS: List[str] = [
    'model.pretrained=None',
    'model.data_preprocessor.size=(64,64)',
    'model.test_cfg.crop_size=(64,64)',
    'model.backbone.model_name=dcp-tiny-convnext',
    'model.text_encoder.model_name=dcp-tiny-convnext',
    'model.text_encoder.templates=single',
    'model.visual_prompt_bank.image_size=(64,64)',
    'model.visual_prompt_bank.num_prompts=2',
    'model.visual_prompt_bank.source.min_area=16',
]

CLIP_MEAN = [122.7709383, 116.7460125, 104.09373615]
CLIP_STD = [68.5005327, 66.6321579, 70.3231630]
TINY_TEMPLATES = ['a photo of a {}.', 'a {} in the scene.']  # P = 2

# tiny parts of every kind, keyed by display name (the recombination matrix
# of :mod:`dcp_mm.apis.recombination` runs all their combinations)
TINY_BACKBONES: Dict[str, dict] = {
    'ViT':
    dict(
        type='CLIPViTBackbone',
        model_name='dcp-tiny',
        out_indices=(2, 3),
        with_attn=True,
        finetune='attention'),
    'ConvNeXt':
    dict(
        type='CLIPConvNeXtBackbone',
        model_name='dcp-tiny-convnext',
        finetune='full'),
}
"""Tiny image towers (64 px: 8 x 8 ViT grid, 2 x 2 ConvNeXt grid)."""
TINY_SELECTORS: Dict[str, Optional[dict]] = {
    'DCS': dict(type='DCPCategorySelector', tau=0.5),
    'CAT-Seg pruning': dict(type='CATSegClassPruning', max_categories=4),
    'none': None,
}
TINY_NECKS: Dict[str, Optional[dict]] = {
    'TGA':
    dict(
        type='DCPTextGuidedAlignNeck',
        cost_dims=16,
        guidance_dims=16,
        sa_patch_dims=8,
        num_heads=2),
    'CAT-Seg aggregation':
    dict(
        type='CATSegAggregationNeck',
        cost_dims=16,
        appearance_dims=8,
        text_guidance_dims=8,
        num_heads=2,
        window_size=4,
        pad_len=6),
    'none':
    None,
}
_SED_HEAD = dict(
    type='SEDGradualFusionHead',
    in_channels=16,
    channels=4,
    decoder_dims=(8, 8, 4),
    guidance_dims=(4, 2, 2),
    num_heads=2)
TINY_HEADS: Dict[str, dict] = {
    'Spatial Enhanced':
    dict(
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
    'CAT-Seg upsampling':
    dict(
        type='CATSegUpsampleHead',
        in_channels=16,
        channels=4,
        decoder_dims=(8, 4),
        shallow_dims=(4, 2),
        shallow_up_dims=(8, 4)),
    'SED gradual fusion':
    _SED_HEAD,
    'SED gradual fusion + CER':
    dict(_SED_HEAD, cer_topk=2),
}
TINY_POST_PROCESSORS: Dict[str, Optional[dict]] = {
    'on': dict(type='DCPTagValidator', top_k=2),
    'off': None,
}


def tiny_preprocessor(size: int = 32) -> dict:
    """mmseg ``SegDataPreProcessor`` config with CLIP's normalisation."""
    return dict(
        type='SegDataPreProcessor',
        mean=list(CLIP_MEAN),
        std=list(CLIP_STD),
        bgr_to_rgb=True,
        size=(size, size))


def tiny_dcp_model_cfg(**overrides) -> dict:
    """A DCP-CLIP model config on the tiny random CLIP ('dcp-tiny').

    32 px inputs, patch 8 (4 x 4 grid), P = 2 templates, vocabulary of 5
    names; every switch at the full model's default. Keyword arguments
    replace top-level keys.
    """
    cfg = dict(
        type='OpenVocabEncoderDecoder',
        data_preprocessor=tiny_preprocessor(32),
        pretrained=None,
        backbone=copy.deepcopy(TINY_BACKBONES['ViT']),
        text_encoder=dict(
            type='OpenCLIPTextEncoder',
            model_name='dcp-tiny',
            templates=list(TINY_TEMPLATES),
            finetune='attention'),
        selector=copy.deepcopy(TINY_SELECTORS['DCS']),
        neck=copy.deepcopy(TINY_NECKS['TGA']),
        decode_head=copy.deepcopy(TINY_HEADS['Spatial Enhanced']),
        post_processor=copy.deepcopy(TINY_POST_PROCESSORS['on']),
        train_vocabulary=list(TINY_VOCABULARY),
        test_cfg=dict(mode='whole'))
    cfg.update(overrides)
    return cfg


def random_seg_batch(batch_size: int = 2,
                     size: int = 32,
                     num_classes: int = 5,
                     generator: Optional[torch.Generator] = None) -> dict:
    """A random batch in the data preprocessor's input format.

    Args:
        batch_size: B images.
        size: image height = width in pixels.
        num_classes: label values are drawn from [0, num_classes).
        generator: optional RNG for reproducible batches.

    Returns:
        ``dict(inputs=[B x (3, size, size) float in [0, 255]],
        data_samples=[B x SegDataSample])``: each sample's ``gt_sem_seg``
        (1, size, size) has random labels with the first 4 rows set to
        ``ignore_index`` 255, and the metainfo an mmseg pipeline would set.
    """
    inputs, samples = [], []
    for i in range(batch_size):
        inputs.append(
            torch.randint(0, 256, (3, size, size),
                          generator=generator).float())
        sample = SegDataSample()
        label = torch.randint(
            0, num_classes, (1, size, size), generator=generator)
        label[:, :4] = 255
        sample.gt_sem_seg = PixelData(data=label)
        sample.set_metainfo(
            dict(
                img_shape=(size, size),
                ori_shape=(size, size),
                pad_shape=(size, size),
                seg_map_path=f'random{i}.png'))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def make_head_inputs(cost, inter_feats, attn, selection):
    """:class:`~dcp_mm.structures.HeadInputs` for head tests: the image
    features hold ``inter_feats`` and ``attn`` (embeddings left empty)."""
    from dcp_mm.structures import CLIPImageFeatures, HeadInputs
    image = CLIPImageFeatures(
        torch.empty(0), torch.empty(0), list(inter_feats), attn)
    return HeadInputs(cost, image, selection)
