"""The README's main job, on the tiny CLIP architecture (seconds, not
minutes): tools/train.py on the real COCO-Stuff sample images, then
tools/test.py on the checkpoint for ADE20K-150 and VOC-20 with a summary
table. Same commands as the README quick start, with the tiny architecture
and a 64 px crop."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dcp_mm.testing import TINY_CFG_OPTIONS

pytestmark = pytest.mark.slow  # runs the tools in subprocesses

REPO = Path(__file__).resolve().parents[2]
TINY = TINY_CFG_OPTIONS

SHORT = [
    'train_dataloader.batch_size=2',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'train_dataloader.dataset.pipeline.2.scale=(1333,64)',
    'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
    'train_cfg.max_iters=6',
    'train_cfg.val_interval=1000',
    'default_hooks.checkpoint.interval=6',
    'default_hooks.logger.interval=1',
    'optim_wrapper.optimizer.lr=0.002',
    'optim_wrapper.clip_grad=None',
]


def run(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, *args],
                          cwd=cwd,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_train_then_test_on_sample_data(shared_data, tmp_path):
    (tmp_path / 'data').symlink_to(shared_data)
    work = tmp_path / 'work'
    log = run([
        str(REPO / 'tools/train.py'),
        str(REPO / 'configs/dcp/dcp_vitb16_cocostuff.py'), '--work-dir',
        str(work), '--cfg-options', *TINY, *SHORT,
        'train_dataloader.dataset.data_root=data/coco_stuff164k'
    ], tmp_path)
    losses = [float(x) for x in re.findall(r'loss_bce: ([0-9.]+)', log)]
    assert len(losses) == 6, log[-2000:]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-2:]) < sum(losses[:2]), losses  # the loss goes down
    ckpt = work / 'iter_6.pth'
    assert ckpt.is_file()
    state = torch.load(ckpt, weights_only=True)
    assert len(state['state_dict']['_extra_state']['train_vocabulary']) \
        == 171

    out = run([
        str(REPO / 'tools/test.py'),
        str(REPO / 'configs/dcp/dcp_vitb16_cocostuff.py'),
        str(ckpt), '--dataset', 'ade150', 'voc20', '--work-dir',
        str(tmp_path / 'test'), '--cfg-options', *TINY,
        'model.test_cfg.mode=whole'
    ], tmp_path)
    rows = {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r'\|\s*(ade150|voc20)\s*\|\s*\d+\s*\|\s*'
            r'([0-9.]+|nan)', out)
    }
    assert set(rows) == {'ade150', 'voc20'}, out[-2000:]
    assert all(0.0 <= v <= 100.0 for v in rows.values())
    assert (tmp_path / 'test' / 'summary.md').is_file()
    assert 'test vocabulary: 150 categories' in out
    assert 'test vocabulary: 20 categories' in out
