# SAN ViT-B/16 (mmseg's config: COCO-Stuff-164k, 640x640, 60k iterations,
# batch 4x8) with DCP-CLIP's Dynamic Category Selection before the head, in
# training (ground-truth categories added) and at test time.
_base_ = ['mmseg::san/san-vit-b16_coco-stuff164k-640x640.py']
custom_imports = dict(
    imports=['dcp_mm', 'projects.san_dcp.san_dcp'], allow_failed_imports=False)
model = dict(
    type='SANWithCategorySelection',
    selector=dict(type='DCPCategorySelector', tau=0.5),
    unselected_logit=-100.0,
    dense_mode='maskclip')
