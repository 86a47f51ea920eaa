# DCP-CLIP Table III, row "baseline": the fine-tuned CLIP cost volume with a
# plain decoder. Changes against the full model (../dcp_vitb16_cocostuff.py):
# * no DCS: selector=None, every image keeps all T categories;
# * no TGA: the neck only builds the cost volume C_0 and embeds it by the
#   7x7 conv (Eq. 6), neither cross- nor self-attention (the prompt and s_c
#   switches are then unused);
# * plain decoder: the same two upsampling layers as the full decoder
#   (ConvTranspose x2, then 2x conv-GN-ReLU; output 4h x 4w) and the 3x3
#   output conv, without the spatial-enhance Swin blocks and without fusing
#   the shallow CLIP features, the initial cost C_0 or the attention A;
# * no TV: post_processor=None.
# Everything else (CLIP fine-tuning, data, schedule) is the full model's.
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(
    selector=None,
    neck=dict(with_ca=False, with_sa=False),
    decode_head=dict(
        spatial_enhance=False,
        fuse_shallow_up=False,
        fuse_shallow_qk=False,
        fuse_cost=False,
        fuse_attn=False),
    post_processor=None)
# Without the attention guidance A the query projection of the last CLIP block
# (fine-tuned, finetune='attention') gets no gradient: it only feeds [CLS]
# (used without gradient) and A. Distributed training (DDP) must allow that.
find_unused_parameters = True
