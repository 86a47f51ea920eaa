"""The FSDP (FlexibleRunner) config builds; its CLIP-block policies work."""
import copy
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.registry import FUNCTIONS, STRATEGIES
from mmseg.registry import MODELS

from dcp_mm.engine import dcp_clip_block_check_fn, dcp_clip_block_wrap_policy
from dcp_mm.testing import tiny_dcp_model_cfg

CFG = Path(__file__).resolve().parents[2] / 'configs' / 'dcp' / \
    'dcp_vitl14_cocostuff_fsdp.py'


def test_fsdp_config_builds_the_strategy():
    cfg = Config.fromfile(str(CFG))
    assert cfg.runner_type == 'FlexibleRunner'
    assert cfg.model.backbone.model_name == 'ViT-L-14-336'
    strategy = STRATEGIES.build(copy.deepcopy(cfg.strategy))
    assert type(strategy).__name__ == 'FSDPStrategy'
    assert strategy.activation_checkpointing == dict(
        check_fn='dcp_clip_block_check_fn')
    assert strategy._is_full_state_dict()
    # the names in the config resolve where mmengine looks them up
    assert FUNCTIONS.get('dcp_clip_block_check_fn') is dcp_clip_block_check_fn
    assert FUNCTIONS.get(cfg.strategy.model_wrapper.auto_wrap_policy.type) \
        is dcp_clip_block_wrap_policy


def test_policies_select_the_clip_blocks():
    model = MODELS.build(tiny_dcp_model_cfg())
    blocks = [m for m in model.modules() if dcp_clip_block_check_fn(m)]
    # dcp-tiny: 4 image blocks + 2 text blocks
    assert len(blocks) == 6
    wrapped = [
        m for m in model.modules()
        if dcp_clip_block_wrap_policy(m, recurse=False, nonwrapped_numel=0)
    ]
    assert wrapped == blocks
    assert dcp_clip_block_wrap_policy(model, recurse=True, nonwrapped_numel=0)


def test_activation_checkpointing_of_clip_blocks_keeps_values_and_grads():
    """What FSDPStrategy does with ``check_fn``: same outputs and grads."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import \
        apply_activation_checkpointing  # noqa: E501
    backbone = MODELS.build(tiny_dcp_model_cfg()).backbone
    ckpt = copy.deepcopy(backbone)
    apply_activation_checkpointing(ckpt, check_fn=dcp_clip_block_check_fn)
    assert sum('CheckpointWrapper' in type(m).__name__
               for m in ckpt.modules()) == 4
    x = torch.randn(2, 3, 32, 32)
    out_a, out_b = backbone(x), ckpt(x)
    loss_a = out_a.dense_embeds.square().sum() + sum(
        f.sum() for f in out_a.inter_feats)
    loss_b = out_b.dense_embeds.square().sum() + sum(
        f.sum() for f in out_b.inter_feats)
    assert torch.allclose(loss_a, loss_b, atol=1e-5)
    loss_a.backward()
    loss_b.backward()
    grads_b = {
        k.replace('_checkpoint_wrapped_module.', ''): v
        for k, v in ckpt.named_parameters()
    }
    n = 0
    for name, p in backbone.named_parameters():
        if p.grad is None:
            continue
        q = grads_b[name]
        assert torch.allclose(p.grad, q.grad, atol=1e-5), name
        n += 1
    assert n > 0
    # state dict keys are unchanged (loads into un-checkpointed models)
    assert ckpt.state_dict().keys() == backbone.state_dict().keys()
