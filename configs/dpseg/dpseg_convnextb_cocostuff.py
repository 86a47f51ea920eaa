# DPSeg (Zhao et al., CVPR 2025), OpenCLIP ConvNeXt-B, trained on
# COCO-Stuff-171. RECONSTRUCTED from the abstract and secondary
# descriptions; no official code (README, "DPSeg"). On SED's ConvNeXt-B
# config (crop 768, batch 4, AdamW 2e-4, wd 1e-4, CLIP lr x0.01, 80k
# iterations, 80 templates): the text-cost neck becomes the dual-prompt cost
# R = Avg(T, V) (fusion 'avg_embed'), SED's decoder becomes the
# cost-volume-guided decoder with visual costs at res4 / res3 / res2, the
# per-pixel BCE is the only loss, and test time runs two rounds with the
# semantic-guided prompt refinement (the paper's "Inference II"; set
# model.prompt_refiner=None for "Inference I").
# Visual prompts: masked exemplar crops of the training set (the M largest
# regions of each category), since the paper's Stable Diffusion images need
# weights not shipped here; to use SD images generated with
# tools/dpseg/generate_visual_prompts.py set
# model.visual_prompt_bank.source=dict(type='ImageFolderPromptSource',
# root=...). Scanning COCO's 118k label maps once takes minutes; set
# model.visual_prompt_bank.cache_dir to keep the embeddings on disk.
_base_ = '../sed/sed_convnextb_cocostuff.py'

model = dict(
    type='DPSegEncoderDecoder',
    neck=dict(fusion='avg_embed'),
    decode_head=dict(
        _delete_=True,
        type='DPSegCostGuidedHead',
        in_channels=128,
        channels=16,
        decoder_dims=(64, 32, 16),
        guidance_dims=(32, 16, 8),  # from res4 / res3 / res2
        visual_cost_dims=(32, 16, 8),
        visual_cost_levels='three',
        upsample_cost_instead=False,
        dilations=(1, 2, 4),
        num_heads=4,
        pooling_size=(2, 2),
        test_pooling_size=(1, 1),
        ignore_index=255,
        loss_decode=dict(type='CategoryBCELoss', loss_weight=1.0)),
    # the frozen visual prompt encoder: a copy of model.backbone
    visual_prompt_bank=dict(
        type='VisualPromptBank',
        num_prompts=8,
        image_size=(320, 320),  # ConvNeXt-B CLIP's input size
        cache_dir=None,
        source=dict(
            type='ExemplarCropPromptSource',
            dataset=dict(
                type='COCOStuff171Dataset',
                data_root='data/coco_stuff164k',
                data_prefix=dict(
                    img_path='images/train2017',
                    seg_map_path='annotations/train2017')),
            min_area=1024)),
    prompt_refiner=dict(type='DPSegPromptRefiner', min_area=1024))
