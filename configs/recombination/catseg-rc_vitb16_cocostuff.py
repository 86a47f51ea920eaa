# Recombination: CAT-Seg ViT-B/16 with MAFT+'s Representation Compensation
# (github.com/jiaosiyu1999/MAFT-Plus): a frozen copy of the initial CLIP
# image tower (eval mode, not saved in checkpoints) and loss_rc = 0.1 x
# SmoothL1 between the pooled summaries (scales 1 / 2 / 4, after ReLU) of the
# last ViT block's patch tokens of the fine-tuned and the frozen tower.
# Training only; everything else is CAT-Seg's.
_base_ = '../catseg/catseg_vitb16_cocostuff.py'
model = dict(
    aux_losses=[dict(type='RepresentationCompensationLoss', loss_weight=0.1)])
