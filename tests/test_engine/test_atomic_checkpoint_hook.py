"""AtomicCheckpointHook: rotation and a crash while writing a checkpoint."""
import pytest
import torch
import torch.nn as nn
from mmengine.fileio import LocalBackend
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmseg.registry import HOOKS

from dcp_mm.engine import (AtomicCheckpointHook, CheckpointCorruptedError,
                           checkpoint_io)


class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        inputs = torch.stack(inputs)
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(
                loss=((out.squeeze(1) - torch.stack(labels))**2).mean())
        return out


class _ToyData(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([i, 1.0]), labels=torch.tensor(i))


def _runner(work_dir, hook_type, max_iters, max_keep):
    return Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_ToyData(),
            sampler=dict(type='InfiniteSampler', shuffle=False),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(
                type=hook_type,
                by_epoch=False,
                interval=1,
                max_keep_ckpts=max_keep),
            logger=None),
        default_scope='mmseg',
        experiment_name=f'{work_dir.name}_{hook_type}')


def test_registered_and_built_from_config():
    hook = HOOKS.build(
        dict(type='AtomicCheckpointHook', interval=2, max_keep_ckpts=3))
    assert isinstance(hook, AtomicCheckpointHook)
    assert hook.max_keep_ckpts == 3
    with pytest.raises(KeyError, match='rule'):  # mmengine's own check
        HOOKS.build(
            dict(
                type='AtomicCheckpointHook',
                by_epoch=False,
                save_best='mIoU',
                rule='bigger_or_smaller'))


def test_rotation_keeps_the_newest(tmp_path):
    runner = _runner(tmp_path, 'AtomicCheckpointHook', 5, 2)
    runner.train()
    names = sorted(p.name for p in tmp_path.glob('*.pth*'))
    assert names == ['iter_4.pth', 'iter_5.pth']  # no temp files left
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path /
                                                             'iter_5.pth')
    ckpt = torch.load(tmp_path / 'iter_5.pth', weights_only=True)
    assert ckpt['message_hub']['runtime_info']['keep_ckpt_ids'] == [4, 5]


def _crash_on_third_put(monkeypatch, module, attr):
    """Make the 3rd checkpoint write die half way (a kill mid-write)."""
    calls = {'n': 0}
    original = getattr(module, attr)

    def put(self, obj, filepath):
        if str(filepath).endswith('.pth'):
            calls['n'] += 1
            if calls['n'] == 3:
                if module is LocalBackend:  # plain open('wb') + write
                    with open(filepath, 'wb') as f:
                        f.write(obj[:len(obj) // 2])
                raise KeyboardInterrupt('killed while writing')
        return original(self, obj, filepath)

    monkeypatch.setattr(module, attr, put)


def test_crash_mid_write_leaves_the_last_good_checkpoint(
        tmp_path, monkeypatch):
    _crash_on_third_put(monkeypatch, checkpoint_io.AtomicLocalBackend, 'put')
    runner = _runner(tmp_path, 'AtomicCheckpointHook', 5, 1)
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    last = (tmp_path / 'last_checkpoint').read_text()
    assert last == str(tmp_path / 'iter_2.pth')
    assert not (tmp_path / 'iter_3.pth').exists()
    ckpt = checkpoint_io.load_local_checkpoint(last)
    assert ckpt['meta']['iter'] == 2
    assert not list(tmp_path.glob('*.tmp.*'))


def test_plain_checkpoint_hook_loses_the_run_in_the_same_crash(
        tmp_path, monkeypatch):
    """Why the hook exists: mmengine deletes the old checkpoint first and
    writes in place, so the same crash leaves only a truncated file."""
    _crash_on_third_put(monkeypatch, LocalBackend, 'put')
    runner = _runner(tmp_path, 'CheckpointHook', 5, 1)
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    assert not (tmp_path / 'iter_2.pth').exists()
    with pytest.raises(CheckpointCorruptedError, match='iter_3.pth'):
        checkpoint_io.load_local_checkpoint(str(tmp_path / 'iter_3.pth'))
