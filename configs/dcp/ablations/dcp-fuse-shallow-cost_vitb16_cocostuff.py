# DCP-CLIP Table VI(c), row "+C_0": the decoder fuses the shallow features F_s
# and the initial cost volume C_0, not the attention A (the next row, "+A",
# is the full model).
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(decode_head=dict(fuse_attn=False))
# Without the attention guidance A the query projection of the last CLIP block
# (fine-tuned, finetune='attention') gets no gradient: it only feeds [CLS]
# (used without gradient) and A. Distributed training (DDP) must allow that.
find_unused_parameters = True
