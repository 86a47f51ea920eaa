# SED, OpenCLIP ConvNeXt-B, trained on COCO-Stuff-171: crop 768, batch 4,
# AdamW 2e-4 (CLIP x0.01), cosine over 80k iterations (the schedule shared
# with DCP-CLIP / CAT-Seg; SED's base config also clips gradients at 0.01).
# Test: shortest edge 640 (max 2560, official MIN_SIZE_TEST), then the model
# squashes the image to 768 x 768. The fast version: add
# `--cfg-options model.decode_head.cer_topk=8`.
_base_ = [
    '../_base_/models/sed_convnextb.py', '../_base_/datasets/cocostuff.py',
    '../_base_/schedules/schedule_80k_adamw.py', '../_base_/default_runtime.py'
]

crop_size = (768, 768)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # official MIN_SIZE_TRAIN 768, MAX_SIZE_TRAIN 2666
    dict(type='Resize', scale=(2666, crop_size[0]), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2560, 640), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
