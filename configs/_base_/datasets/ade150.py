# ADE20K-150 (ADEChallengeData2016 validation, 2000 images).
#
# Evaluation only (zero-shot). Test: the image is resized to 640 x 640 (CAT-Seg
# resizes to out_res 640 x 640 before its 384-tile sliding window); the
# model's test_cfg does the tiling; mmseg resizes the logits back to the
# original size and the label is loaded after Resize (full resolution).
# Labels: uint8 PNG, 0 = other -> ignored, 1..150 -> 0..149 (the
# dataset sets reduce_zero_label=True; LoadAnnotations follows it).
# `crop_size` is unused here (no train pipeline); it is defined, as in every
# mmseg dataset base, for leaf configs that read it. `custom_imports` comes
# from `_base_/default_runtime.py` (a duplicate key among bases is an error).
dataset_type = 'ADE20K150Dataset'
data_root = 'data/ade/ADEChallengeData2016'
crop_size = (384, 384)
test_scale = (640, 640)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=test_scale, keep_ratio=False),
    # after Resize: the label keeps its original size
    dict(type='LoadAnnotations'),
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
            img_path='images/validation',
            seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# detectron2 convention (classes without GT pixels leave the mean), as the
# papers report; use absent_classes='mmseg' for mmseg's IoUMetric numbers.
val_evaluator = dict(
    type='OVIoUMetric', iou_metrics=['mIoU'], absent_classes='detectron2')
test_evaluator = val_evaluator
