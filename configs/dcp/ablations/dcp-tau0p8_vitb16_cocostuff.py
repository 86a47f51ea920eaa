# DCP-CLIP Table VII, row tau = 0.8: the image-level threshold of DCS (Eq. 4),
# C_c = {t : S_c[t] > tau}; the full model uses tau = 0.5.
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(selector=dict(tau=0.8))
