# DCP-CLIP Table IV, row "CA": TGA with the text-guided cross-attention branch
# (Eq. 8-10) only; F''_p reaches the cost feature through a per-position
# linear fusion instead of self-attention (see DCPTextGuidedAlignNeck).
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(neck=dict(with_sa=False))
