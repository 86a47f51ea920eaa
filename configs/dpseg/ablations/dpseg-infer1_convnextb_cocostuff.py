# DPSeg ablation: one round ("Inference I"): no semantic-guided prompt refinement;
# evaluated with one round, like the paper's ablations (Inference I).
_base_ = '../dpseg_convnextb_cocostuff.py'
model = dict(
    prompt_refiner=None)
