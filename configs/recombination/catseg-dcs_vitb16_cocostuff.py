# Recombination: CAT-Seg with DCP-CLIP's Dynamic Category Selection (DCS,
# tau = 0.5, ground-truth categories added in training) instead of CAT-Seg's
# class pruning. Everything else is CAT-Seg ViT-B/16 (aggregation neck,
# upsampling decoder, one template, q/v fine-tuning, schedule, slide test).
# The aggregation neck pads each image's K_b selected categories with its
# learnable padding tokens up to pad_len = 256, as for pruned vocabularies.
_base_ = '../catseg/catseg_vitb16_cocostuff.py'
model = dict(
    selector=dict(
        _delete_=True,
        type='DCPCategorySelector',
        tau=0.5,
        suppression='multiply',
        combine='union',
        add_gt_in_training=True))
