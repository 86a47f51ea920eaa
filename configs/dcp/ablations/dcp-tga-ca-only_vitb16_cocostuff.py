# DCP-CLIP Table IV, row "CA": TGA with the text-guided cross-attention branch
# (Eq. 8-10) and without the self-attention of Eq. 11-12. Table IV ablates
# "the different attention branch": the rest of the SA branch stays (the
# concatenation [F_cv ; proj(F''_p)], its value map, projection, residual,
# LN and MLP), each position attending to itself only (see
# DCPTextGuidedAlignNeck).
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(neck=dict(with_sa=False))
