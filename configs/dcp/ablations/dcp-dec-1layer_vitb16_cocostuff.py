# DCP-CLIP Table VI(b), row "1 layer": one decoder layer (spatial enhance +
# one upsampling x2 with the first shallow feature and C_0), logits at
# 2h x 2w.
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(decode_head=dict(num_layers=1))
