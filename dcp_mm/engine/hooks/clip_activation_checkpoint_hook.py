"""Activation checkpointing of the CLIP blocks as a config switch."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from ..fsdp_policies import dcp_clip_block_check_fn


@HOOKS.register_module()
class CLIPActivationCheckpointHook(Hook):
    """Recompute the CLIP transformer blocks in backward (less memory).

    Wraps every open_clip ``ResidualAttentionBlock`` of the model (image and
    text towers; :func:`~dcp_mm.engine.dcp_clip_block_check_fn`) with
    PyTorch's non-reentrant checkpoint wrapper
    (``torch.distributed.algorithms._checkpoint.checkpoint_wrapper.
    apply_activation_checkpointing``, the function mmengine's
    ``FSDPStrategy`` uses). Only the block inputs are kept for backward;
    the block is re-run there: activation memory of the CLIP towers drops
    to about one block, at the cost of one extra forward of them.

    Enable with ``dict(type='CLIPActivationCheckpointHook')`` in
    ``custom_hooks`` (single device and DDP; for FSDP use the strategy's
    ``activation_checkpointing``, see ``dcp_vitl14_cocostuff_fsdp.py``).
    Outputs, gradients and state-dict keys are unchanged (the wrapper
    strips its prefix), so checkpoints stay interchangeable.

    Args:
        frozen_too: also wrap blocks without trainable parameters (e.g. a
            frozen text encoder). Default False: their activations are not
            kept for backward anyway unless a later trainable layer needs
            them, so wrapping them only costs a re-run.
    """

    priority = 'VERY_HIGH'

    def __init__(self, frozen_too: bool = False) -> None:
        self.frozen_too = frozen_too
        self.num_wrapped = 0

    def _check(self, module) -> bool:
        if not dcp_clip_block_check_fn(module):
            return False
        return self.frozen_too or any(p.requires_grad
                                      for p in module.parameters())

    def before_train(self, runner) -> None:
        from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import \
            apply_activation_checkpointing  # noqa: E501
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        before = sum('CheckpointWrapper' in type(m).__name__
                     for m in model.modules())
        apply_activation_checkpointing(model, check_fn=self._check)
        self.num_wrapped = sum('CheckpointWrapper' in type(m).__name__
                               for m in model.modules()) - before
        runner.logger.info('activation checkpointing: '
                           f'{self.num_wrapped} CLIP blocks wrapped')
