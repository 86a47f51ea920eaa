# DCP-CLIP, CLIP ViT-L/14, COCO-Stuff-171: crop 336 (24 x 24 patch grid),
# shallow features from blocks 8 and 16 (CAT-Seg), otherwise as ViT-B/16.
_base_ = './dcp_vitb16_cocostuff.py'

crop_size = (336, 336)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(model_name='ViT-L-14', out_indices=(8, 16)),
    text_encoder=dict(model_name='ViT-L-14'),
    test_cfg=dict(crop_size=crop_size, stride=(224, 224)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1333, crop_size[0]), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
