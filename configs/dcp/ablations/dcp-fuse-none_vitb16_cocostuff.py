# DCP-CLIP Table VI(c), row "none": no feature fusion in the decoder: the
# Swin blocks' Q/K see the cost feature only, the upsampling layers get no
# shallow features and no C_0.
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(
    decode_head=dict(fuse_shallow=False, fuse_cost=False, fuse_attn=False))
# Without the attention guidance A the query projection of the last CLIP block
# (fine-tuned, finetune='attention') gets no gradient: it only feeds [CLS]
# (used without gradient) and A. Distributed training (DDP) must allow that.
find_unused_parameters = True
