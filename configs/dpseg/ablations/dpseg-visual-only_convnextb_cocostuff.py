# DPSeg ablation: visual-only cost volume cos(E, V);
# evaluated with one round, like the paper's ablations (Inference I).
_base_ = '../dpseg_convnextb_cocostuff.py'
model = dict(neck=dict(fusion='visual_only'), prompt_refiner=None)
