# DCP-CLIP Table VI(c), row "+C_0": the decoder fuses the shallow features F_s
# and the initial cost volume C_0, not the attention A (the next row, "+A",
# is the full model).
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(decode_head=dict(fuse_attn=False))
