default_scope = 'mmseg'
custom_imports = dict(imports=['dcp_mm'], allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
# checkpoints (load_from, --resume) must fit the model exactly; True allows
# a deliberate partial load and logs what was not loaded
partial_load = False
# a fixed seed makes --resume exact: the resumed run draws the same data
# order, augmentations and dropout masks as an uninterrupted one
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
# bad samples (unreadable image, label of another size, label values out of
# range) stop the run naming the file; skip_bad=True (tools/train.py
# --skip-bad-samples) skips and counts them instead
data_check = dict(skip_bad=False)
# training / test vocabularies from the datasets' metainfo['classes'];
# the RNG states saved in checkpoints (exact --resume); the model's
# description (config, templates, seen vocabulary) saved in checkpoints and
# every loaded checkpoint checked against the model
custom_hooks = [
    dict(type='OVVocabularyHook'),
    dict(type='RNGStateHook'),
    dict(type='ModelMetaHook')
]
tta_model = dict(type='SegTTAModel')
