"""The DPSeg "done when" run (about a minute): tools/train.py on the real
COCO-Stuff sample images with exemplar prompts from their labels and the
tiny ConvNeXt CLIP, then tools/test.py on the checkpoint with the prompt
refinement on."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dcp_mm.testing import TINY_DPSEG_CFG_OPTIONS

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs/dpseg/dpseg_convnextb_cocostuff.py')
TINY = TINY_DPSEG_CFG_OPTIONS + ['model.prompt_refiner.min_area=16']
SHORT = [
    'train_dataloader.batch_size=2',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'train_dataloader.dataset.pipeline.2.scale=(1333,64)',
    'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
    'train_cfg.max_iters=3',
    'train_cfg.val_interval=1000',
    'default_hooks.checkpoint.interval=3',
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


@pytest.mark.slow
def test_dpseg_train_then_test_with_refinement(shared_data, tmp_path):
    (tmp_path / 'data').symlink_to(shared_data)
    work = tmp_path / 'work'
    log = run([
        str(REPO / 'tools/train.py'), CONFIG, '--work-dir',
        str(work), '--cfg-options', *TINY, *SHORT
    ], tmp_path)
    assert 'ExemplarCropPromptSource: scanned 13 label maps' in log
    assert re.search(r'\d+ of 171 categories have no visual prompt', log)
    losses = [float(x) for x in re.findall(r'loss_bce: ([0-9.]+)', log)]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    ckpt = work / 'iter_3.pth'
    state = torch.load(ckpt, weights_only=True)['state_dict']
    assert any(k.startswith('visual_prompt_bank.encoder.') for k in state)

    out = run([
        str(REPO / 'tools/test.py'), CONFIG,
        str(ckpt), '--work-dir',
        str(tmp_path / 'test'), '--cfg-options', *TINY
    ], tmp_path)
    assert re.search(
        r'DPSeg prompt refinement: round II with [1-9]\d* '
        'refined', out), out[-2000:]
    row = re.search(
        r'\|\s*dpseg_convnextb_cocostuff\s*\|\s*171\s*\|\s*'
        r'([0-9.]+|nan)', out)
    assert row and 0.0 <= float(row.group(1)) <= 100.0, out[-2000:]
