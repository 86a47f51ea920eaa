"""2-process gloo DDP (tools/dist_train.sh) == 1 process, same global batch.

Tiny architecture, deterministic pipeline (resize only, so every sample is
the same in both runs), plain SGD, no weight decay. DDP: 2 ranks x 1 image
x 2 iterations. Reference: 1 process x 1 image x 4 iterations with
``accumulative_counts=2`` (mmengine OptimWrapper): the same 2 images per
optimizer step, and the same loss normalisation as DDP (mean over each
image's pixels, then mean over the 2 images; a batch of 2 in one process
would normalise over the pixels of both images together instead). The
InfiniteSampler gives rank r the shuffled indices r, r + 2, ..., so step j
sees images 2j and 2j + 1 in both runs. Both runs validate at the end (the
DDP run with a distributed sampler and collect_results).

DCS keeps each image's ground-truth categories, so K differs per image and
per rank; with ``find_unused_parameters=False`` an unused parameter would
stop DDP at the second iteration: the run finishing is the check.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dcp_mm.testing.tiny_config import write_tiny_train_config

pytestmark = pytest.mark.slow  # runs the tools in subprocesses

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _scalars(work):
    recs = []
    for f in sorted(work.glob('*/vis_data/scalars.json')):
        recs += [json.loads(line) for line in f.read_text().splitlines()]
    return recs


def test_ddp_two_gloo_ranks_equal_one_process(shared_data, tmp_path):
    common = dict(
        batch_size=1,
        random_aug=False,
        optim_wrapper=dict(optimizer=dict(_delete_=True, type='SGD', lr=0.05)))
    data = shared_data / 'coco_stuff164k'
    ddp_cfg = write_tiny_train_config(
        tmp_path / 'ddp.py',
        data,
        max_iters=2,
        checkpoint_interval=2,
        val_interval=2,
        **common)
    common['optim_wrapper'] = dict(
        accumulative_counts=2,
        optimizer=dict(_delete_=True, type='SGD', lr=0.05))
    one_cfg = write_tiny_train_config(
        tmp_path / 'one.py',
        data,
        max_iters=4,
        checkpoint_interval=4,
        val_interval=4,
        **common)
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        PORT=str(_free_port()),
        PYTHON=sys.executable,  # the venv's python, activated or not
        OMP_NUM_THREADS='1')
    ddp = subprocess.Popen([
        'bash',
        str(REPO / 'tools' / 'dist_train.sh'),
        str(ddp_cfg), '2', '--work-dir',
        str(tmp_path / 'ddp')
    ],
                           env=env,
                           stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT,
                           text=True)
    one = subprocess.run([
        sys.executable,
        str(REPO / 'tools' / 'train.py'),
        str(one_cfg), '--work-dir',
        str(tmp_path / 'one')
    ],
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=TIMEOUT)
    try:
        ddp_out, _ = ddp.communicate(timeout=TIMEOUT)
    finally:
        if ddp.poll() is None:
            ddp.kill()
    assert one.returncode == 0, one.stdout[-2000:] + one.stderr[-2000:]
    assert ddp.returncode == 0, ddp_out[-4000:]
    assert 'Distributed launcher: pytorch' in ddp_out or \
        'distributed: True' in ddp_out, ddp_out[-2000:]

    a = torch.load(tmp_path / 'ddp' / 'iter_2.pth', weights_only=True)
    b = torch.load(tmp_path / 'one' / 'iter_4.pth', weights_only=True)
    diffs = {
        k: (v - b['state_dict'][k]).abs().max().item()
        for k, v in a['state_dict'].items()
        if torch.is_tensor(v) and v.is_floating_point()
    }
    assert max(diffs.values()) < 1e-6, sorted(
        diffs.items(), key=lambda kv: kv[1])[-3:]

    one_recs, ddp_recs = _scalars(tmp_path / 'one'), _scalars(tmp_path / 'ddp')
    # per-image K (1 image per iteration): images 1 and 2 (ranks 0 and 1 of
    # the first DDP step) select different numbers of categories
    ks = [r['num_selected'] for r in one_recs if 'num_selected' in r]
    assert len(ks) == 4 and ks[0] != ks[1], ks
    # distributed evaluation == single-process evaluation
    m_one = [r for r in one_recs if 'mIoU' in r][-1]
    m_ddp = [r for r in ddp_recs if 'mIoU' in r][-1]
    for key in ('aAcc', 'mIoU', 'mAcc'):
        assert m_one[key] == m_ddp[key], (key, m_one, m_ddp)
    assert 0 < m_one['aAcc'] <= 100
