# DCP-CLIP ViT-L/14 on COCO-Stuff-171 with PyTorch FSDP through mmengine's
# FlexibleRunner (needs CUDA GPUs; launch with tools/dist_train.sh or
# tools/slurm_train.sh exactly as the DDP configs):
#   tools/dist_train.sh configs/dcp/dcp_vitl14_cocostuff_fsdp.py 8
# * FULL_SHARD: parameters, gradients and AdamW states sharded over ranks;
# * one FSDP unit per CLIP transformer block (dcp_clip_block_wrap_policy);
# * activation checkpointing of every CLIP block (dcp_clip_block_check_fn,
#   applied by FSDPStrategy with torch's checkpoint wrapper);
# * bf16 parameters / fp32 gradient reduction (FSDP MixedPrecision); the
#   loss and the cost volume stay in fp32 inside the model;
# * use_orig_params=True: needed for the partly frozen CLIP towers and the 0.01
#   learning-rate multiplier of the CLIP parameters (paramwise_cfg);
# * full (rank-0, CPU-offloaded) state dicts, so checkpoints load into the
#   DDP / single-GPU configs and tools/test.py unchanged.
# The DeepSpeed route is the same with
#   strategy = dict(type='DeepSpeedStrategy', zero_optimization=dict(stage=2),
#                   bf16=dict(enabled=True), gradient_clipping=0.01)
#   optim_wrapper = dict(type='DeepSpeedOptimWrapper', optimizer=...)
# (pip install deepspeed; checkpoints are directories there).
_base_ = './dcp_vitl14_cocostuff.py'

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        type='MMFullyShardedDataParallel',
        auto_wrap_policy=dict(type='dcp_clip_block_wrap_policy'),
        sharding_strategy='FULL_SHARD',
        use_orig_params=True,
        mixed_precision=dict(
            param_dtype='bfloat16',
            reduce_dtype='float32',
            buffer_dtype='float32')),
    state_dict_cfg='full',
    activation_checkpointing=dict(check_fn='dcp_clip_block_check_fn'))
# FlexibleRunner: no `model_wrapper_cfg`, the strategy wraps the model;
# sharded checkpoints are handled by mmengine's CheckpointHook
default_hooks = dict(checkpoint=dict(type='CheckpointHook'))
