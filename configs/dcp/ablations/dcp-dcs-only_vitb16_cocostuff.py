# DCP-CLIP Table III, row "+DCS": the baseline (dcp-baseline_vitb16_cocostuff)
# with Dynamic Category Selection (the full model's selector, tau = 0.5):
# no TGA (cost volume embedding only), plain decoder (no spatial enhance, no
# fusion; see dcp-baseline_vitb16_cocostuff.py), no TV.
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(
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
