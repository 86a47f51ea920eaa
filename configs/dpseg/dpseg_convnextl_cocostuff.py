# DPSeg, OpenCLIP ConvNeXt-L (as SED-L); reconstructed, no official code.
# Decoder guidance and visual costs from 768 / 384 / 192 channels (derived
# from the res5 width 1536); the visual prompt encoder follows the backbone.
_base_ = './dpseg_convnextb_cocostuff.py'

model = dict(
    pretrained='laion2b_s29b_b131k_ft_soup',
    backbone=dict(model_name='convnext_large_d_320'),
    text_encoder=dict(model_name='convnext_large_d_320'))
