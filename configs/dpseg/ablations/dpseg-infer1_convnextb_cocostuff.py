# DPSeg ablation: no semantic-guided prompt refinement, one round
# ("Inference I"), like the paper's ablations.
_base_ = '../dpseg_convnextb_cocostuff.py'
model = dict(prompt_refiner=None)
