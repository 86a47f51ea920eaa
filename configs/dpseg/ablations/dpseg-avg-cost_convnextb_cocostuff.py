# DPSeg ablation: two costs averaged (cos(E, T) + cos(E, V)) / 2;
# evaluated with one round, like the paper's ablations (Inference I).
_base_ = '../dpseg_convnextb_cocostuff.py'
model = dict(neck=dict(fusion='avg_cost'), prompt_refiner=None)
