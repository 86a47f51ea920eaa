# Recombination: DCP-CLIP with SED's category early rejection (CER, top-k
# = 8 as SED's fast version) instead of DCS. CER is part of SED's gradual
# fusion decoder, which needs the ConvNeXt stage pyramid (tensor contract
# 'pyramid_feats'), so this is SED ConvNeXt-B (encoder, decoder, 768 crop,
# whole-image test) with DCP-CLIP's parts around it: no selector (as SED:
# all T categories reach the neck; CER rejects categories in the decoder at
# inference), the full TGA neck (CA + SA, DCP-CLIP's defaults) instead of
# SED's plain cost embedding, and Tag Validation (top_k = 5).
_base_ = '../sed/sed_convnextb_cocostuff.py'
model = dict(
    neck=dict(with_ca=True, with_sa=True),
    decode_head=dict(cer_topk=8),
    post_processor=dict(_delete_=True, type='DCPTagValidator', top_k=5))
