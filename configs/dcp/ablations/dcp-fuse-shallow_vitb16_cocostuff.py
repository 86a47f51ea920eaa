# DCP-CLIP Table VI(c), row "+F_s": the decoder fuses the shallow CLIP
# features F_s into the Swin Q/K (the upsampling layers have them in every
# row), not C_0 nor attention A.
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(decode_head=dict(fuse_cost=False, fuse_attn=False))
# Without the attention guidance A the query projection of the last CLIP block
# (fine-tuned, finetune='attention') gets no gradient: it only feeds [CLS]
# (used without gradient) and A. Distributed training (DDP) must allow that.
find_unused_parameters = True
