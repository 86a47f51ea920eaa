# CAT-Seg (Cho et al., CVPR 2024) with CLIP ViT-B/16, as in the official
# configs/vitb_384.yaml (CAT-Seg
# cat_seg/modeling/transformer/cat_seg_predictor.py): MaskCLIP-style dense
# features (last block value path, [CLS] residual), one prompt template
# ('A photo of a {} in the scene', first synonym), CLIP q/v projections
# fine-tuned in BOTH towers, class pruning to 256, two aggregation layers,
# upsampling decoder with CLIP blocks 4 / 8, per-pixel BCE.
# The CLIP weights of both towers are set once by `model.pretrained`.
model_crop_size = (384, 384)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    # CLIP's mean / std on 0-255 RGB
    mean=[122.7709383, 116.7460125, 104.09373615],
    std=[68.5005327, 66.6321579, 70.3231630],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=model_crop_size)
model = dict(
    type='OpenVocabEncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained='openai',
    backbone=dict(
        type='CLIPViTBackbone',
        model_name='ViT-B-16',
        dense_mode='maskclip',
        dense_residual='cls',
        out_indices=(4, 8),  # 1-based blocks (official hooks on 3 and 7)
        with_attn=False,
        finetune='attention'),
    text_encoder=dict(
        type='OpenCLIPTextEncoder',
        model_name='ViT-B-16',
        templates='single',
        synonyms='first',
        finetune='attention'),
    selector=dict(type='CATSegClassPruning', max_categories=256),
    neck=dict(
        type='CATSegAggregationNeck',
        cost_dims=128,
        appearance_dims=128,
        text_guidance_dims=128,
        num_layers=2,
        num_heads=4,
        window_size=12,
        # official: POOLING_SIZES [2, 2] in training, eval.sh rebuilds with
        # [1, 1]; set test_pooling_size=None to evaluate with [2, 2]
        pooling_size=(2, 2),
        test_pooling_size=(1, 1),
        pad_len=256),
    decode_head=dict(
        type='CATSegUpsampleHead',
        in_channels=128,
        channels=32,
        decoder_dims=(64, 32),
        shallow_dims=(32, 16),
        shallow_up_dims=(256, 128),
        ignore_index=255,
        loss_decode=dict(type='CategoryBCELoss', loss_weight=1.0)),
    post_processor=None,
    train_cfg=dict(),
    # official eval.sh (TEST.SLIDING_WINDOW True): the image resized to
    # 640 x 640 (test pipeline), 384 tiles with stride 256, plus one global
    # view resized to 384; probabilities averaged.
    test_cfg=dict(
        mode='slide',
        crop_size=model_crop_size,
        stride=(256, 256),
        global_view=True))
