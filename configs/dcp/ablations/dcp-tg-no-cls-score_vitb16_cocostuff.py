# DCP-CLIP Table V, row "w/o s_c": the textual guidance of Eq. 7 without the
# [CLS] classification score s_c: G = Linear(E_sel), keys / values [G ; p]
# with the learnable prompt token p (see DCPTextGuidedAlignNeck).
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(neck=dict(use_cls_score=False))
