"""The README's main job, on the tiny CLIP architecture (seconds, not
minutes): tools/train.py on the real COCO-Stuff sample images, then
tools/test.py on the checkpoint for ADE20K-150 (with the config) and VOC-20
(from the checkpoint alone) into one summary table. Same commands as the
README quick start, with the tiny architecture and a 64 px crop.

Also the refusals of issue 9 that need a trained checkpoint: training again
into the work dir, and testing with another template count."""
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
    'train_dataloader.num_workers=0',  # persistent_workers follows
    'train_dataloader.dataset.pipeline.2.scale=(1333,64)',
    'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
    'train_cfg.max_iters=6',
    'train_cfg.val_interval=1000',
    'default_hooks.checkpoint.interval=6',
    'default_hooks.logger.interval=1',
    'optim_wrapper.optimizer.lr=0.002',
    'optim_wrapper.clip_grad=None',
]


def run(args, cwd, ok=True):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, *args],
                          cwd=cwd,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=900)
    out = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == ok, out[-3000:]
    return out


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
    assert '_extra_state' not in state['state_dict']
    described = state['meta']['dcp_model']
    assert len(described['train_vocabulary']) == 171
    assert described['summary']['num_templates'] == 1  # templates=single
    assert described['config']['text_encoder']['templates'] == 'single'

    # training again into the work dir is refused (issue 9, case 4)
    mtime = ckpt.stat().st_mtime_ns
    out = run([
        str(REPO / 'tools/train.py'),
        str(REPO / 'configs/dcp/dcp_vitb16_cocostuff.py'), '--work-dir',
        str(work)
    ],
              tmp_path,
              ok=False)
    assert 'FileExistsError' in out and '--resume' in out
    assert ckpt.stat().st_mtime_ns == mtime  # untouched

    # another template count than the checkpoint's is refused (case 2)
    out = run([
        str(REPO / 'tools/test.py'),
        str(REPO / 'configs/dcp/dcp_vitb16_cocostuff.py'),
        str(ckpt), '--dataset', 'voc20', '--work-dir',
        str(tmp_path / 'test'), '--cfg-options', *TINY,
        'model.text_encoder.templates=imagenet80'
    ],
              tmp_path,
              ok=False)
    assert 'CheckpointMismatchError' in out and 'template count' in out
    assert '--cfg-options model.text_encoder.templates=single' in out
    assert not (tmp_path / 'test' / 'summary.md').exists()

    out = run([
        str(REPO / 'tools/test.py'),
        str(REPO / 'configs/dcp/dcp_vitb16_cocostuff.py'),
        str(ckpt), '--dataset', 'ade150', '--work-dir',
        str(tmp_path / 'test'), '--cfg-options', *TINY,
        'model.test_cfg.mode=whole'
    ], tmp_path)
    assert 'test vocabulary: 150 categories' in out
    # the checkpoint alone (its saved config), into the same work dir
    out = run([
        str(REPO / 'tools/test.py'),
        str(ckpt), '--dataset', 'voc20', '--work-dir',
        str(tmp_path / 'test'), '--cfg-options', 'model.test_cfg.mode=whole'
    ], tmp_path)
    assert 'test vocabulary: 20 categories' in out
    summary = (tmp_path / 'test' / 'summary.md').read_text()
    rows = {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r'\|\s*(ade150|voc20)\s*\|\s*\d+\s*\|\s*'
            r'([0-9.]+|nan)', summary)
    }
    assert set(rows) == {'ade150', 'voc20'}, summary  # rows merged
    assert all(0.0 <= v <= 100.0 for v in rows.values())
