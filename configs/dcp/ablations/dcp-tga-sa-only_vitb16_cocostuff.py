# DCP-CLIP Table IV, row "SA": TGA with the self-attention branch (Eq. 11-12)
# only; it uses the raw patch embeddings F_p instead of the text-guided F''_p.
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(neck=dict(with_ca=False))
