# DCP-CLIP, CLIP ViT-B/16, trained on COCO-Stuff-171: crop 384, batch 4
# (4 GPUs x 1 in the paper; here train_dataloader.batch_size=4 on one
# device), AdamW 2e-4 with CLIP x0.01, 80k iterations, 80 prompt templates,
# DCS tau = 0.5. Evaluate zero-shot with tools/test.py --dataset ...
_base_ = [
    '../_base_/models/dcp_vitb16.py', '../_base_/datasets/cocostuff.py',
    '../_base_/schedules/schedule_80k_adamw.py', '../_base_/default_runtime.py'
]
