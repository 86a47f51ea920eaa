# DCP-CLIP Table V, row "w/o s_c and p": the textual guidance of Eq. 7 from
# the text embeddings only: G = Linear(E_sel) (no [CLS] score s_c), and no
# learnable prompt token p among the cross-attention's keys / values.
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(neck=dict(use_cls_score=False, use_prompt=False))
