# DCP-CLIP with CLIP ViT-B/16 (DCP-CLIP Sec. III, the defaults documented in
# docs/fidelity.md).
# The CLIP weights of both towers are set once by `model.pretrained`:
# 'openai' (open_clip download), a local file (.pt / .pth / .safetensors),
# or None (random init, logged as a warning; for tests only).
# (custom_imports of dcp_mm: in _base_/default_runtime.py)
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
        out_indices=(4, 8),  # 1-based blocks for the shallow features
        with_attn=True,
        finetune='attention'),
    text_encoder=dict(
        type='OpenCLIPTextEncoder',
        model_name='ViT-B-16',
        templates='imagenet80',
        synonyms='first',
        # text q/v fine-tuned as CAT-Seg's (lr x0.01 through the schedule's
        # paramwise_cfg 'text_encoder'); gradients only through the
        # categories that reach the decoder (encode_selected)
        finetune='attention'),
    selector=dict(
        type='DCPCategorySelector',
        tau=0.5,
        suppression='multiply',
        combine='union',
        add_gt_in_training=True),
    neck=dict(
        type='DCPTextGuidedAlignNeck',
        cost_dims=128,  # choice: CAT-Seg's cost feature width
        # paper (Eq. 7): "dimensionally aligned textual guidance", d_g = D
        guidance_dims=None,
        sa_patch_dims=64,  # choice: d' of Eq. 11 (not printed)
        num_heads=4,  # choice: CAT-Seg's heads (not printed)
        # choice (Table II fit): the Transformer MLP width 4x in both branches
        mlp_ratio=4.0,
        with_ca=True,
        with_sa=True,
        use_prompt=True,
        use_cls_score=True),
    decode_head=dict(
        type='DCPSpatialEnhancedHead',
        in_channels=128,
        channels=32,
        # choice: CAT-Seg's decoder widths (the paper does not print them)
        decoder_dims=(64, 32),
        shallow_dims=(32, 16),
        shallow_up_dims=(256, 128),
        cost_guidance_dims=(32, 16),  # choice: SED's C_0 guidance widths
        num_layers=2,  # paper: L = 2
        spatial_enhance=True,
        fuse_shallow_qk=True,  # F_s in the Swin Q/K (Eq. 13)
        fuse_shallow_up=True,  # F_s in the U-Net path (Eq. 15)
        fuse_cost=True,
        fuse_attn=True,
        num_heads=4,  # choice: CAT-Seg's Swin heads
        window_size=12,  # choice: CAT-Seg's window on the 24 x 24 grid
        rel_pos_bias=True,  # paper: "the rest of the Swin ... unchanged"
        ignore_index=255,
        loss_decode=dict(type='CategoryBCELoss', loss_weight=1.0)),
    post_processor=dict(type='DCPTagValidator', top_k=5),
    train_cfg=dict(),
    # CAT-Seg's protocol: 384 tiles with stride 256 over the image resized to
    # 640 x 640 (test pipeline), plus one global view resized to 384.
    test_cfg=dict(
        mode='slide',
        crop_size=model_crop_size,
        stride=(256, 256),
        global_view=True))
