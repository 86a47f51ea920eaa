# Recombination: CAT-Seg ViT-B/16 with DCP-CLIP's Tag Validation (TV,
# inference only, top_k = 5 as the DCP-CLIP config): regions predicted as
# categories outside the training vocabulary are re-checked against the
# pooled dense CLIP embeddings (of the global view in slide mode).
# Training is CAT-Seg's unchanged.
_base_ = '../catseg/catseg_vitb16_cocostuff.py'
model = dict(
    post_processor=dict(_delete_=True, type='DCPTagValidator', top_k=5))
