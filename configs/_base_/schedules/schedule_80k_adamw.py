# CAT-Seg / DCP-CLIP schedule: AdamW 2e-4 (CLIP x0.01), weight decay 1e-4,
# cosine decay over 80k iterations, L2 gradient clipping 0.01 (whole model).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.01, norm_type=2),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.01),
            'text_encoder': dict(lr_mult=0.01)
        }))
max_iters = 80000
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        eta_min=0.0,
        begin=0,
        end=max_iters,
        T_max=max_iters,
        by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=8000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # mmengine's CheckpointHook with atomic writes and safe rotation
    checkpoint=dict(
        type='AtomicCheckpointHook',
        by_epoch=False,
        interval=8000,
        max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
