# Recombination: CAT-Seg (class pruning, aggregation neck, upsampling
# decoder) with DPSeg's dual-prompt cost volume (Zhao et al., CVPR 2025;
# reconstructed, no official code): the aggregation neck's cost is
# cos(F, Avg(T, V)) with V the frozen CLIP ViT-B/16 image embeddings of
# exemplar crops of the training set (a frozen copy of the backbone; the
# M = 8 largest regions of each category). The CAT-Seg decoder has no
# visual-cost stages; no prompt refinement.
_base_ = '../catseg/catseg_vitb16_cocostuff.py'
model = dict(
    type='DPSegEncoderDecoder',
    neck=dict(fusion='avg_embed'),
    visual_prompt_bank=dict(
        type='VisualPromptBank',
        num_prompts=8,
        image_size=(224, 224),  # CLIP ViT-B/16's input size
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
    prompt_refiner=None)
