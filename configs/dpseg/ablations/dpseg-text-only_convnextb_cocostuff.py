# DPSeg ablation: text-only cost volume cos(E, T);
# evaluated with one round, like the paper's ablations (Inference I).
_base_ = '../dpseg_convnextb_cocostuff.py'
model = dict(neck=dict(fusion='text_only'), prompt_refiner=None)
