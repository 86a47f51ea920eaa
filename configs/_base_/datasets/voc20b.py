# Pascal VOC-20b (VOC2012 val with background, CAT-Seg protocol).
#
# Evaluation only (zero-shot). Test: the image is resized to 640 x 640 (CAT-Seg
# resizes to out_res 640 x 640 before its 384-tile sliding window); the
# model's test_cfg does the tiling; mmseg resizes the logits back to the
# original size and the label is loaded after Resize (full resolution).
# The model is queried with 59 names (VOC-20 + 39 Pascal Context stand-ins for
# background); the dataset maps GT background 0 -> 20 and 1..20 -> 0..19
# (label_map), and OVIoUMetric maps every prediction >= 20 to 20 through
# the metainfo pred_remap; 21 classes are evaluated (eval_classes).
# `crop_size` is unused here (no train pipeline); it is defined, as in every
# mmseg dataset base, for leaf configs that read it. `custom_imports` comes
# from `_base_/default_runtime.py` (a duplicate key among bases is an error).
dataset_type = 'PascalVOC20bDataset'
data_root = 'data/VOCdevkit/VOC2012'
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
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# detectron2 convention (classes without GT pixels leave the mean), as the
# papers report; use absent_classes='mmseg' for mmseg's IoUMetric numbers.
val_evaluator = dict(
    type='OVIoUMetric', iou_metrics=['mIoU'], absent_classes='detectron2')
test_evaluator = val_evaluator
