# CAT-Seg, CLIP ViT-L/14@336px (open_clip 'ViT-L-14-336', OpenAI weights
# through model.pretrained='openai'), COCO-Stuff-171, as the official
# configs/vitl_336.yaml and cat_seg_model.py
# (https://github.com/cvlab-kaist/CAT-Seg): 384 crops squashed to CLIP's
# 336 px (24 x 24 patch grid) in training (train_cfg.input_resize); test:
# the 640 x 640 image cut into 384 windows with stride 256 (2 x 2), every
# view resized to 336 (test_cfg.window_resize), plus the global view
# (640 -> 384 -> 336); logits back to 384, probabilities averaged.
# Decoder guidance from blocks 8 and 16 (official layer_indexes [7, 15]),
# CLIP width 1024 (injected into the head), otherwise as ViT-B/16.
_base_ = './catseg_vitb16_cocostuff.py'

clip_size = (336, 336)
model = dict(
    backbone=dict(model_name='ViT-L-14-336', out_indices=(8, 16)),
    text_encoder=dict(model_name='ViT-L-14-336'),
    train_cfg=dict(input_resize=clip_size),
    test_cfg=dict(
        mode='slide',
        crop_size=(384, 384),
        stride=(256, 256),
        window_resize=clip_size,
        global_view=True))
