# DCP-CLIP Table VI(a), row "none": the decoder without the spatial-enhance
# aggregation (no Swin blocks, Eq. 13-14); the upsampling layers still fuse
# the shallow features and C_0 (Eq. 15-16). The attention A, used only inside
# the Swin blocks, is then unused (fuse_attn stays at its default).
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(decode_head=dict(spatial_enhance=False))
# Without the attention guidance A the query projection of the last CLIP block
# (fine-tuned, finetune='attention') gets no gradient: it only feeds [CLS]
# (used without gradient) and A. Distributed training (DDP) must allow that.
find_unused_parameters = True
