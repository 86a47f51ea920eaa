# Zero-shot test of SAN + TV (trained on COCO-Stuff-164k) on ADE20K-150:
# the test vocabulary is ADE20K's, the seen vocabulary stays COCO-Stuff's, so
# TV re-checks the regions of the ADE20K categories COCO-Stuff lacks.
# Test only (tools/test.py); the training part is the parent's.
_base_ = ['./san-vit-b16-tv_coco-stuff164k-640x640.py']
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ADE20KDataset',
        data_root='data/ade/ADEChallengeData2016',
        data_prefix=dict(
            img_path='images/validation',
            seg_map_path='annotations/validation'),
        pipeline={{_base_.test_pipeline}}))
val_dataloader = test_dataloader
model = dict(text_encoder=dict(dataset_name='ade20k'))
