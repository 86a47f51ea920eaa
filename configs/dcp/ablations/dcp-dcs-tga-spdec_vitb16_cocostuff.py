# DCP-CLIP Table III, row "+DCS+TGA+SED": the full model without Tag
# Validation at inference (post_processor=None). Training is identical to the
# full model's (TV is inference only), so the full model's checkpoint could be
# evaluated with this config as well.
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(post_processor=None)
