# DPSeg ablation: the initial cost upsampled (SED-like) instead of the
# visual costs;
# evaluated with one round, like the paper's ablations (Inference I).
_base_ = '../dpseg_convnextb_cocostuff.py'
model = dict(
    decode_head=dict(visual_cost_levels='none', upsample_cost_instead=True),
    prompt_refiner=None)
