# DCP-CLIP Table IV, row "none": TGA without its cross-attention (CA) and
# self-attention (SA) branches; the embedded cost volume F_cv passes through.
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(neck=dict(with_ca=False, with_sa=False))
