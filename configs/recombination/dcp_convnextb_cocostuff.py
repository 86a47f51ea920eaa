# Recombination: DCP-CLIP (DCS, TGA, Spatial Enhanced decoder, TV) on SED's
# OpenCLIP ConvNeXt-B encoder (LAION weights, GELU, fully fine-tuned with the
# schedule's CLIP lr x0.01) instead of CLIP ViT-B/16. The tensor contracts
# decide the decoder's switches: a ConvNeXt has no attention map and no
# single-scale block features at the dense grid (its stages form a stride
# 4..32 pyramid), so the decoder drops the attention guidance A and the
# shallow features F_s (fuse_attn=False, fuse_shallow_qk=False,
# fuse_shallow_up=False) and keeps the
# Swin spatial enhance and the C_0 fusion. Data, schedule and the slide test
# are DCP-CLIP's: 384 crops, i.e. a 12 x 12 stride-32 grid (SED trains at
# 768 for 24 x 24).
_base_ = '../dcp/dcp_vitb16_cocostuff.py'
model = dict(
    pretrained='laion_aesthetic_s13b_b82k',
    backbone=dict(
        _delete_=True,
        type='CLIPConvNeXtBackbone',
        model_name='convnext_base_w_320',
        finetune='full',
        quick_gelu=False),
    text_encoder=dict(model_name='convnext_base_w_320', quick_gelu=False),
    decode_head=dict(
        fuse_shallow_qk=False, fuse_shallow_up=False, fuse_attn=False))
