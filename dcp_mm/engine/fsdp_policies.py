"""FSDP wrapping / activation-checkpointing policies for the CLIP towers.

Registered into mmengine's root ``FUNCTIONS`` registry (mmseg has none),
where ``MMFullyShardedDataParallel(auto_wrap_policy=...)`` and
``FSDPStrategy(activation_checkpointing=dict(check_fn=...))`` look them
up by name (see ``configs/dcp/dcp_vitl14_cocostuff_fsdp.py``).

A CLIP block is an open_clip ``ResidualAttentionBlock`` (or
``CustomResidualAttentionBlock``): 24 of them in ViT-L/14's image tower
(~12.6 M parameters each) and 12 in its text tower. Wrapping each block
as its own FSDP unit shards and gathers the model block by block, and
checkpointing each block keeps only the block inputs for backward.
"""
from typing import Tuple

import torch.nn as nn
from mmengine.registry import FUNCTIONS


def clip_block_types() -> Tuple[type, ...]:
    """The open_clip transformer block classes of the CLIP towers."""
    from open_clip import transformer
    names = ('ResidualAttentionBlock', 'CustomResidualAttentionBlock')
    return tuple(
        getattr(transformer, n) for n in names if hasattr(transformer, n))


@FUNCTIONS.register_module()
def dcp_clip_block_check_fn(module: nn.Module) -> bool:
    """Activation checkpointing ``check_fn``: True for a CLIP block."""
    return isinstance(module, clip_block_types())


@FUNCTIONS.register_module()
def dcp_clip_block_wrap_policy(module: nn.Module, recurse: bool,
                               nonwrapped_numel: int) -> bool:
    """FSDP ``auto_wrap_policy``: one FSDP unit per CLIP block.

    Same contract as ``torch.distributed.fsdp.wrap.ModuleWrapPolicy``:
    with ``recurse=True`` always descend; otherwise wrap ``module`` iff it
    is a CLIP block (everything else stays in the root unit).
    """
    if recurse:
        return True
    return isinstance(module, clip_block_types())
