"""RNGStateHook: resume is exact for a model with dropout."""
import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmseg.registry import HOOKS

from dcp_mm.engine import RNGStateHook


class _DropoutModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)
        self.drop = nn.Dropout(0.5)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(self.drop(torch.stack(inputs))).squeeze(1)
        if mode == 'loss':
            return dict(loss=((out - torch.stack(labels))**2).mean())
        return out


class _Data(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.arange(4.) + i, labels=torch.tensor(i * .1))


class _CrashAt(Hook):

    def __init__(self, it):
        self.it = it

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.it:
            raise KeyboardInterrupt('crash')


def _run(work, rng_hook, crash=None, resume=False):
    hooks = [dict(type='RNGStateHook')] if rng_hook else []
    torch.manual_seed(0)  # same initial weights in every run
    runner = Runner(
        model=_DropoutModel(),
        work_dir=str(work),
        train_dataloader=dict(
            dataset=_Data(),
            sampler=dict(type='InfiniteSampler', shuffle=True),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=4),
        default_hooks=dict(
            checkpoint=dict(
                type='AtomicCheckpointHook', by_epoch=False, interval=2),
            logger=None),
        custom_hooks=hooks,
        randomness=dict(seed=1),
        resume=resume,
        default_scope='mmseg',
        experiment_name=f'{work.name}_{rng_hook}_{crash}_{resume}')
    if crash:
        runner.register_hook(_CrashAt(crash))
        with pytest.raises(KeyboardInterrupt):
            runner.train()
        return None
    runner.train()
    return runner.model.linear.weight.detach().clone()


@pytest.mark.parametrize('rng_hook', [True, False])
def test_resume_after_crash_equals_uninterrupted(tmp_path, rng_hook):
    ref = _run(tmp_path / 'ref', rng_hook)
    _run(tmp_path / 'run', rng_hook, crash=3)
    resumed = _run(tmp_path / 'run', rng_hook, resume=True)
    ckpt = torch.load(tmp_path / 'run' / 'iter_2.pth', weights_only=True)
    if rng_hook:
        assert ckpt['dcp_rng_state']['cpu'].dtype == torch.uint8
        assert torch.equal(ref, resumed)
    else:  # without the hook the dropout masks after resume differ
        assert 'dcp_rng_state' not in ckpt
        assert not torch.equal(ref, resumed)


def test_built_from_registry():
    assert isinstance(HOOKS.build(dict(type='RNGStateHook')), RNGStateHook)
    with pytest.raises(TypeError):
        HOOKS.build(dict(type='RNGStateHook', seed=1))
