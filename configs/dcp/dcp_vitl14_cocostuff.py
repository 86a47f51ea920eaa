# DCP-CLIP, CLIP ViT-L/14@336px (open_clip 'ViT-L-14-336', OpenAI weights
# through model.pretrained='openai'), COCO-Stuff-171. As CAT-Seg's ViT-L
# (https://github.com/cvlab-kaist/CAT-Seg configs/vitl_336.yaml and
# cat_seg_model.py): 384 crops squashed to CLIP's 336 px (24 x 24 patch
# grid) in training (train_cfg.input_resize); at test time the image is
# resized to 640 x 640 (test pipeline), cut into 384 windows with stride 256
# (2 x 2 windows), every view resized to 336 (test_cfg.window_resize), plus
# the global view (640 -> 384 -> 336); logits back to 384, probabilities
# averaged. Shallow features from blocks 8 and 16 (CAT-Seg), otherwise as
# ViT-B/16.
_base_ = './dcp_vitb16_cocostuff.py'

clip_size = (336, 336)
model = dict(
    backbone=dict(model_name='ViT-L-14-336', out_indices=(8, 16)),
    text_encoder=dict(model_name='ViT-L-14-336'),
    # choice (Table II fit: 443.6 M total / 80.3 M learnable): the shallow
    # features of the 1024-wide ViT-L are upsampled to 512 / 256 channels
    # (CAT-Seg: 256 / 128); the paper does not print these widths
    decode_head=dict(shallow_up_dims=(512, 256)),
    train_cfg=dict(input_resize=clip_size),
    test_cfg=dict(
        mode='slide',
        crop_size=(384, 384),
        stride=(256, 256),
        window_resize=clip_size,
        global_view=True))
