# DCP-CLIP on the tiny, randomly initialised CLIP ('dcp-tiny': ViT patch 8,
# width 64, 4 blocks; text width 32) at 64 px: the full model's config with
# only the sizes shrunk, for smoke tests, examples and the test suite
# (dcp_mm.testing.tiny_config builds on it). Every switch of the method is
# as in dcp_vitb16_cocostuff.py; the numbers it produces mean nothing.
_base_ = './dcp_vitb16_cocostuff.py'
crop_size = (64, 64)
model = dict(
    pretrained=None,  # random init, logged: no weights for 'dcp-tiny'
    data_preprocessor=dict(size=crop_size),
    backbone=dict(model_name='dcp-tiny', out_indices=(2, 3)),
    text_encoder=dict(model_name='dcp-tiny', templates='single'),
    decode_head=dict(window_size=4),  # the 8 x 8 patch grid at 64 px
    test_cfg=dict(crop_size=crop_size, stride=(48, 48)))
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
