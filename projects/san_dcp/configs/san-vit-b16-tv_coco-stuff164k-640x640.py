# SAN ViT-B/16 (mmseg's config, unchanged: COCO-Stuff-164k, 640x640, 60k
# iterations, batch 4x8) with DCP-CLIP's Tag Validation at test time.
# Training is SAN's own; TV only changes predict(). The seen categories are
# the 171 COCO-Stuff classes SAN is trained on.
_base_ = ['mmseg::san/san-vit-b16_coco-stuff164k-640x640.py']
custom_imports = dict(
    imports=['dcp_mm', 'projects.san_dcp.san_dcp'], allow_failed_imports=False)
model = dict(
    type='SANWithTagValidation',
    train_dataset_name='coco-stuff164k',
    dense_mode='maskclip',
    post_processor=dict(type='DCPTagValidator', top_k=5, min_area=1.0))
