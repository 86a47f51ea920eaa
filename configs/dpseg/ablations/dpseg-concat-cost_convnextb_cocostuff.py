# DPSeg ablation: two costs concatenated [cos(E, T); cos(E, V)] (2P channels);
# evaluated with one round, like the paper's ablations (Inference I).
_base_ = '../dpseg_convnextb_cocostuff.py'
model = dict(neck=dict(fusion='concat_cost'), prompt_refiner=None)
