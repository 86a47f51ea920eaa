# CAT-Seg, CLIP ViT-B/16, trained on COCO-Stuff-171: crop 384, batch 4,
# AdamW 2e-4 (CLIP x0.01), weight decay 1e-4, cosine over 80k iterations,
# gradient clipping 0.01 (the schedule shared with DCP-CLIP).
_base_ = [
    '../_base_/models/catseg_vitb16.py', '../_base_/datasets/cocostuff.py',
    '../_base_/schedules/schedule_80k_adamw.py', '../_base_/default_runtime.py'
]
# With the MaskCLIP-style dense features and no consumer of the [CLS]
# embedding in the loss, the query projection of CLIP's last block (trained
# in the 'attention' fine-tuning mode) gets no gradient: DDP must know.
find_unused_parameters = True
