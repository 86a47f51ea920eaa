# Recombination: DCP-CLIP ViT-B/16 with MAFT+'s Content-Dependent Transfer
# (github.com/jiaosiyu1999/MAFT-Plus) in place of the Text-guided Alignment:
# TGA's cross- and self-attention branches are off (the neck only embeds the
# cost volume) and each DCS-selected category's template-averaged text
# embedding attends once to the dense CLIP map (8 heads, D = 512) before the
# cost volume, L2-normalised. DCS, the decoder and TV are DCP-CLIP's.
_base_ = '../dcp/dcp_vitb16_cocostuff.py'
model = dict(
    neck=dict(with_ca=False, with_sa=False),
    text_adapter=dict(
        type='ContentDependentTransfer',
        embed_dims=512,
        num_heads=8,
        per_template=False,
        normalize_output=True))
