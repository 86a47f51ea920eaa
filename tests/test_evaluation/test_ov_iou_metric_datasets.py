"""OVIoUMetric on real sample data: oracle predictions score 100 mIoU."""
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from mmseg.registry import DATASETS


def _oracle_run(dataset, to_pred):
    evaluator = Evaluator(
        dict(type='OVIoUMetric', absent_classes='detectron2'))
    evaluator.dataset_meta = dataset.metainfo
    for idx in range(len(dataset)):
        ds = dataset[idx]['data_samples']
        gt = ds.gt_sem_seg.data
        ds.pred_sem_seg = PixelData(data=to_pred(gt))
        evaluator.process([ds])
    return evaluator.evaluate(len(dataset))


def test_ade847_oracle(shared_data):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadOVAnnotations', ignore_index=65535),
        dict(type='PackSegInputs')
    ]
    dataset = DATASETS.build(
        dict(
            type='ADE20K847Dataset',
            data_root=str(shared_data / 'ade' / 'ADE20K_2021_17_01'),
            data_prefix=dict(
                img_path='images_detectron2/training',
                seg_map_path='annotations_detectron2/training'),
            pipeline=pipeline))
    # ignored pixels get an arbitrary (wrong) class: must not matter
    res = _oracle_run(dataset, lambda gt: torch.where(gt == 65535, 846, gt))
    assert res['mIoU'] == 100.0 and res['aAcc'] == 100.0


def test_voc20b_oracle_with_stand_in_background(shared_data):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs')
    ]
    dataset = DATASETS.build(
        dict(
            type='PascalVOC20bDataset',
            data_root=str(shared_data / 'VOCdevkit' / 'VOC2012'),
            ann_file='ImageSets/Segmentation/val.txt',
            data_prefix=dict(
                img_path='JPEGImages', seg_map_path='SegmentationClass'),
            pipeline=pipeline))
    # background (20) predicted as 'wood' (58), a Pascal Context stand-in
    res = _oracle_run(
        dataset,
        lambda gt: torch.where(gt == 20, 58, torch.where(gt == 255, 0, gt)))
    assert res['mIoU'] == 100.0 and res['aAcc'] == 100.0
    # predicting an object class on background pixels is wrong
    res = _oracle_run(
        dataset,
        lambda gt: torch.where(gt == 255, 0, torch.where(gt == 20, 0, gt)))
    assert res['mIoU'] < 100.0
