# DCP-CLIP Table III, row "+DCS+SED": DCS and the full Spatial Enhanced
# Decoder ("spdec" in file names, not to be confused with the SED baseline
# of configs/sed/), no TGA (the neck only embeds the cost volume C_0), no TV.
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(neck=dict(with_ca=False, with_sa=False), post_processor=None)
