# MAFT+'s two plug-in parts (Jiao et al., ECCV 2024; official code
# github.com/jiaosiyu1999/MAFT-Plus, MIT) on SED ConvNeXt-B: SED's encoder,
# plain cost embedding and gradual fusion decoder, SED's data (crop 768,
# whole-image test) and 80k schedule, plus
# * Content-Dependent Transfer: one cross-attention of each class-name
#   synonym's text embedding to the dense CLIP map (8 heads, D = 640), before
#   the cost volume (L2-normalised output, a deviation needed by the cosine
#   cost; MAFT+ trains it with its mask-aware loss, here the BCE trains it);
# * Representation Compensation: ReLU -> pooled summary at scales 1 / 2 / 4
#   -> SmoothL1 between the fine-tuned trunk's last stage and a frozen copy
#   of the initial CLIP tower (teacher in eval mode), weight 0.1;
# * MAFT+'s CLIP recipe: laion_aesthetic_s13b_b82k_augreg weights, trunk stem
#   + stages + norm_pre fine-tuned at lr x0.1, trunk head / projection head /
#   text tower frozen; the 14 ViLD templates averaged per synonym, the cost
#   volume taking the max over the synonyms of each class.
# Not taken: FC-CLIP's mask-proposal head and the mask-aware loss (they need
# mask proposals, which this per-pixel cost-volume family has not).
_base_ = '../sed/sed_convnextb_cocostuff.py'
model = dict(
    pretrained='laion_aesthetic_s13b_b82k_augreg',
    backbone=dict(finetune='stem+stages'),
    text_encoder=dict(templates='vild14', synonyms='max'),
    neck=dict(synonym_max=True),
    # one query per synonym (the text encoder's synonym slots), as MAFT+
    text_adapter=dict(
        type='ContentDependentTransfer',
        embed_dims=640,
        num_heads=8,
        per_template=True,
        normalize_output=True),
    aux_losses=[
        dict(
            type='RepresentationCompensationLoss',
            loss_weight=0.1,
            scales=(1, 2, 4),
            width_before_resize=True,
            preprocess='relu',
            teacher_mode='eval')
    ])
# MAFT+: every module named 'backbone' at lr x0.1 (train_net.py)
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
