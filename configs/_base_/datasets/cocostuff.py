# COCO-Stuff-164k, 171 classes (CAT-Seg names): the OVSS training set;
# validation on val2017 (5000 images).
#
# Training augmentation follows CAT-Seg (configs/config.yaml + vitb_384.yaml,
# MaskFormerSemanticDatasetMapper): ResizeShortestEdge(384, max 1333) ->
# RandomCrop 384 with SINGLE_CATEGORY_MAX_AREA 1.0 (= cat_max_ratio 1.0, no
# constraint) -> ColorAugSSD (= mmseg PhotoMetricDistortion, same SSD
# defaults) -> horizontal flip; batch 4 in total.
# Test: the image is resized to 640 x 640 (CAT-Seg resizes to out_res 640 x
# 640 before its 384-tile sliding window); the model's test_cfg does the
# tiling; mmseg resizes the logits back to the original size and the label is
# loaded after Resize, so it is evaluated at full resolution.
#
# Base-variable semantics (mmengine): `crop_size` and `test_scale` are used
# when THIS file is evaluated. A leaf config that sets `crop_size = (336,
# 336)` changes the leaf's `crop_size` only, not `train_pipeline` built here;
# the leaf must also redefine the pipeline and pass it on, e.g.
# `train_dataloader = dict(dataset=dict(pipeline=train_pipeline))`
# (dicts merge key by key, lists are replaced).
# `custom_imports` comes from `_base_/default_runtime.py` (defining it here
# too would be a duplicate key among bases, which mmengine rejects).
dataset_type = 'COCOStuff171Dataset'
data_root = 'data/coco_stuff164k'
crop_size = (384, 384)
test_scale = (640, 640)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # keep_ratio: short side -> crop_size[0], long side <= 1333
    dict(type='Resize', scale=(1333, crop_size[0]), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=test_scale, keep_ratio=False),
    # after Resize: the label keeps its original size
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# batch_size is per device: 4 on one device = the paper's total of 4
# (4 GPUs x 1); on N devices use 4 // N.
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/train2017', seg_map_path='annotations/train2017'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/val2017', seg_map_path='annotations/val2017'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# detectron2 convention (classes without GT pixels leave the mean), as the
# papers report; use absent_classes='mmseg' for mmseg's IoUMetric numbers.
val_evaluator = dict(
    type='OVIoUMetric', iou_metrics=['mIoU'], absent_classes='detectron2')
test_evaluator = val_evaluator
