# Recombination: CAT-Seg ViT-B/16 with MAFT+'s Content-Dependent Transfer
# (github.com/jiaosiyu1999/MAFT-Plus): after the class pruning, each kept
# category's text embedding attends once to the dense CLIP map (8 heads,
# D = 512, template-averaged query as MAFT+; CAT-Seg has one template) and is
# L2-normalised before the cost volume. Everything else is CAT-Seg's.
_base_ = '../catseg/catseg_vitb16_cocostuff.py'
model = dict(
    text_adapter=dict(
        type='ContentDependentTransfer',
        embed_dims=512,
        num_heads=8,
        per_template=False,
        normalize_output=True))
