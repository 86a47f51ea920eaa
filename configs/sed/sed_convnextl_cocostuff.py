# SED, OpenCLIP ConvNeXt-L (official configs/convnextL_768.yaml): decoder
# guidance from 768 / 384 / 192 channels (derived from the res5 width 1536),
# otherwise as ConvNeXt-B.
_base_ = './sed_convnextb_cocostuff.py'

model = dict(
    pretrained='laion2b_s29b_b131k_ft_soup',
    backbone=dict(model_name='convnext_large_d_320'),
    text_encoder=dict(model_name='convnext_large_d_320'))
