"""Exact resume after SIGKILL: tools/train.py --resume on the tiny model.

N = 4 iterations, checkpoint every 2 (the atomic checkpoint hook), random
augmentation on, the shipped config's ``randomness`` unchanged (issue 9,
case 8: resume was exact only with a seed the configs did not set). Run A
trains uninterrupted. Run B is SIGKILLed as soon as ``last_checkpoint``
names ``iter_2.pth`` (it is then in iteration 3), then resumed with
``--resume``: its final weights, optimizer state and logged losses equal
run A's exactly.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from dcp_mm.testing.tiny_config import write_tiny_train_config

pytestmark = pytest.mark.slow  # runs the tools in subprocesses

REPO = Path(__file__).resolve().parents[2]
TRAIN = str(REPO / 'tools' / 'train.py')
N = 4
TIMEOUT = 600


def _env():
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')


def _train(cfg, work, *extra):
    proc = subprocess.run(
        [sys.executable, TRAIN,
         str(cfg), '--work-dir',
         str(work), *extra],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _train_and_kill_after(cfg, work, ckpt_name):
    """Start training, SIGKILL it once last_checkpoint names ckpt_name."""
    log = open(work.parent / 'killed.log', 'w')
    proc = subprocess.Popen(
        [sys.executable, TRAIN,
         str(cfg), '--work-dir',
         str(work)],
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT)
    marker = work / 'last_checkpoint'
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if marker.is_file() and marker.read_text().endswith(ckpt_name):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    return proc.returncode


def _losses(work):
    """{iter: loss_bce} over every run (timestamp dir) in work."""
    out = {}
    for f in sorted(work.glob('*/vis_data/scalars.json')):
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            if 'loss_bce' in rec:
                out.setdefault(rec['iter'], []).append(rec['loss_bce'])
    return out


def test_sigkill_then_resume_equals_uninterrupted(shared_data, tmp_path):
    cfg = write_tiny_train_config(
        tmp_path / 'tiny.py',
        shared_data / 'coco_stuff164k',
        max_iters=N,
        batch_size=1,
        checkpoint_interval=N // 2,
        random_aug=True,
        seed=None,  # the shipped configs' randomness, unchanged
        deterministic=None)
    shipped = Config.fromfile(str(REPO / 'configs/_base_/default_runtime.py'))
    assert Config.fromfile(str(cfg)).randomness == shipped.randomness
    assert shipped.randomness.seed is not None
    ref, run = tmp_path / 'ref', tmp_path / 'run'
    _train(cfg, ref)

    rc = _train_and_kill_after(cfg, run, f'iter_{N // 2}.pth')
    assert rc == -signal.SIGKILL, f'not killed (exit {rc})'
    assert not (run / f'iter_{N}.pth').exists(), 'finished before the kill'
    killed_losses = _losses(run)
    log = _train(cfg, run, '--resume')
    assert f'Load checkpoint from {run / f"iter_{N // 2}.pth"}' in log, \
        log[-2000:]
    assert f'resumed epoch: 0, iter: {N // 2}' in log

    a = torch.load(ref / f'iter_{N}.pth', weights_only=True)
    b = torch.load(run / f'iter_{N}.pth', weights_only=True)
    assert a['meta']['iter'] == b['meta']['iter'] == N
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for k, v in a['state_dict'].items():
        if torch.is_tensor(v):
            assert torch.equal(v, b['state_dict'][k]), k
    # AdamW moments too
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    assert sa.keys() == sb.keys()
    for i in sa:
        for name in ('exp_avg', 'exp_avg_sq'):
            assert torch.equal(sa[i][name], sb[i][name]), (i, name)

    ref_losses = {i: v[0] for i, v in _losses(ref).items()}
    assert sorted(ref_losses) == list(range(1, N + 1))
    resumed = _losses(run)
    # iterations before the checkpoint come from the killed run, the rest
    # from the resumed run (which starts at N/2 + 1)
    for it in range(1, N + 1):
        assert resumed[it][-1] == pytest.approx(ref_losses[it], abs=0), it
    assert all(it in killed_losses for it in range(1, N // 2 + 1))
