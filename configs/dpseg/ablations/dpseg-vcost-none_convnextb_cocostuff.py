# DPSeg ablation: no visual cost volumes in the decoder (F_c only);
# evaluated with one round, like the paper's ablations (Inference I).
_base_ = '../dpseg_convnextb_cocostuff.py'
model = dict(decode_head=dict(visual_cost_levels='none'), prompt_refiner=None)
