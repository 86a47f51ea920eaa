# SED (Xie et al., CVPR 2024) with OpenCLIP ConvNeXt-B, as in the official
# configs/convnextB_768.yaml (SED sed/modeling/backbone + open_clip
# timm_model.py): the stride-32 dense
# map (24 x 24 at 768 px) is the cost source, strides 4 / 8 / 16 feed the
# gradual fusion decoder; visual tower fully fine-tuned (lr x0.01 via the
# schedule's paramwise_cfg), text tower frozen, 80 ImageNet templates with
# synonyms averaged; no class pruning (selector None); the neck only embeds
# the cost volume (7x7 conv P -> 128, the 'none' cost-feature neck).
# LAION ConvNeXt CLIP towers use GELU (quick_gelu=False).
model_crop_size = (768, 768)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    # CLIP's mean / std on 0-255 RGB (SED's CLIP_PIXEL_MEAN / STD)
    mean=[122.7709383, 116.7460125, 104.09373615],
    std=[68.5005327, 66.6321579, 70.3231630],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=model_crop_size)
model = dict(
    type='OpenVocabEncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained='laion_aesthetic_s13b_b82k',
    backbone=dict(
        type='CLIPConvNeXtBackbone',
        model_name='convnext_base_w_320',
        finetune='full',
        quick_gelu=False),
    text_encoder=dict(
        type='OpenCLIPTextEncoder',
        model_name='convnext_base_w_320',
        templates='imagenet80',
        synonyms='average',
        finetune='frozen',
        quick_gelu=False),
    selector=None,
    neck=dict(
        type='DCPTextGuidedAlignNeck',
        cost_dims=128,
        with_ca=False,
        with_sa=False),
    decode_head=dict(
        type='SEDGradualFusionHead',
        in_channels=128,
        channels=16,
        decoder_dims=(64, 32, 16),
        guidance_dims=(32, 16, 8),  # from res4 / res3 / res2
        kernel_size=9,
        num_heads=4,
        # official: [2, 2] in training, eval.sh rebuilds with [1, 1]
        pooling_size=(2, 2),
        test_pooling_size=(1, 1),
        # category early rejection ("fast" SED): cer_topk=8
        cer_topk=None,
        ignore_index=255,
        loss_decode=dict(type='CategoryBCELoss', loss_weight=1.0),
        aux_loss_decode=dict(
            type='CategoryBCELoss', loss_name='loss_aux', loss_weight=1.0)),
    post_processor=None,
    train_cfg=dict(),
    # whole-image inference, the image squashed to 768 x 768 (official)
    test_cfg=dict(mode='whole', crop_size=model_crop_size))
