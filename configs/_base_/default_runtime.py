default_scope = 'mmseg'
# mmengine Runner that also syncs models with non-tensor extra state (DDP)
runner_type = 'OVSegRunner'
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
# training / test vocabularies from the datasets' metainfo['classes']
# and the RNG states saved in checkpoints (exact --resume)
custom_hooks = [dict(type='OVVocabularyHook'), dict(type='RNGStateHook')]
tta_model = dict(type='SegTTAModel')
