# DCP-CLIP Table VI(c), row "+F_s": the decoder fuses the shallow CLIP
# features F_s (Swin Q/K and upsampling layers), not C_0 nor attention A.
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(decode_head=dict(fuse_cost=False, fuse_attn=False))
