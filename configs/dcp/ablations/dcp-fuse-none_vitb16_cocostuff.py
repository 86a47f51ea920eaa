# DCP-CLIP Table VI(c), row "none": no feature fusion into the spatial
# enhance: the Swin blocks' Q/K see the cost feature only (no F_s, no A) and
# the upsampling layers get no C_0. The U-Net path keeps the shallow CLIP
# features F_s (fuse_shallow_up stays True): "without fusion, the decoder
# relies solely on shallow features" (DCP-CLIP Sec. IV-C, Table VI(c)).
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(
    decode_head=dict(fuse_shallow_qk=False, fuse_cost=False, fuse_attn=False))
# Without the attention guidance A the query projection of the last CLIP block
# (fine-tuned, finetune='attention') gets no gradient: it only feeds [CLS]
# (used without gradient) and A. Distributed training (DDP) must allow that.
find_unused_parameters = True
