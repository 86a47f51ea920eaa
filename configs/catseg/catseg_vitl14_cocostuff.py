# CAT-Seg, CLIP ViT-L/14, COCO-Stuff-171: 336 px (24 x 24 patch grid),
# decoder guidance from blocks 8 and 16 (official layer_indexes [7, 15]),
# CLIP width 1024 (injected into the head), otherwise as ViT-B/16.
# The official model squashes its 384 crops / tiles to 336 for CLIP; here
# the crops and tiles are 336 directly (stride 224 over the 640 test image),
# as in configs/dcp/dcp_vitl14_cocostuff.py.
_base_ = './catseg_vitb16_cocostuff.py'

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
