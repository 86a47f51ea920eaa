# Recombination: SED ConvNeXt-B with DCP-CLIP's Dynamic Category Selection
# (DCS, tau = 0.5, ground-truth categories added in training) in front of
# the gradual fusion decoder, which then runs over the K selected categories
# instead of all T (SED has no selector). CER stays off as in the SED config
# (add `--cfg-options model.decode_head.cer_topk=8` to reject further among
# the K). Everything else is SED's (768 crop, whole-image test).
_base_ = '../sed/sed_convnextb_cocostuff.py'
model = dict(
    selector=dict(
        _delete_=True,
        type='DCPCategorySelector',
        tau=0.5,
        suppression='multiply',
        combine='union',
        add_gt_in_training=True))
