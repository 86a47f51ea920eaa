# DCP-CLIP Table VI(b), row "0 layers": no upsampling decoder layer; one
# spatial-enhance stage (two Swin blocks) at the patch grid, then the 3x3
# output conv (logits at h x w, upsampled bilinearly). The shallow CLIP
# features are still computed by the backbone (the deepest one guides the
# Swin blocks' Q/K).
_base_ = '../dcp_vitb16_cocostuff.py'
model = dict(decode_head=dict(num_layers=0))
