# DPSeg ablation: one visual cost volume, F_v^2 at the res2 stage;
# evaluated with one round, like the paper's ablations (Inference I).
_base_ = '../dpseg_convnextb_cocostuff.py'
model = dict(decode_head=dict(visual_cost_levels='one'), prompt_refiner=None)
