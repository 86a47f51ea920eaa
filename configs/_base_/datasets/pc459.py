# Pascal Context-459 (VOC2010 val, 5104 images).
#
# Evaluation only (zero-shot). Test: the image is resized to 640 x 640 (CAT-Seg
# resizes to out_res 640 x 640 before its 384-tile sliding window); the
# model's test_cfg does the tiling; mmseg resizes the logits back to the
# original size and the label is loaded after Resize (full resolution).
# Labels: uint16 TIFF made by CAT-Seg prepare_pascal_context_459.py
# (LabelMap - 1, 0..458), ignore 459 (CAT-Seg ignore_label); LoadOVAnnotations
# keeps uint16.
# `crop_size` is unused here (no train pipeline); it is defined, as in every
# mmseg dataset base, for leaf configs that read it. `custom_imports` comes
# from `_base_/default_runtime.py` (a duplicate key among bases is an error).
dataset_type = 'PascalContext459Dataset'
data_root = 'data/VOCdevkit/VOC2010'
crop_size = (384, 384)
test_scale = (640, 640)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=test_scale, keep_ratio=False),
    # after Resize: the label keeps its original size
    dict(type='LoadOVAnnotations', ignore_index=459),
    dict(type='PackSegInputs')
]
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='JPEGImages',
            seg_map_path='annotations_detectron2/pc459_val'),
        ann_file='ImageSets/SegmentationContext/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# detectron2 convention (classes without GT pixels leave the mean), as the
# papers report; use absent_classes='mmseg' for mmseg's IoUMetric numbers.
val_evaluator = dict(
    type='OVIoUMetric', iou_metrics=['mIoU'], absent_classes='detectron2')
test_evaluator = val_evaluator
