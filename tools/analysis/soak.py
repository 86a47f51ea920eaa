"""Soak run: long tiny training with validation and checkpoint rotation.

Not a test (it takes minutes): trains the tiny architecture (random
``dcp-tiny`` CLIP, 32 px, 6-category COCO-Stuff vocabulary) for ``--iters``
iterations on a COCO-Stuff-164k layout, validates every ``--val-interval``
iterations, checkpoints with :class:`~dcp_mm.engine.AtomicCheckpointHook`
and rotation, then reports:

* whether every training loss was finite;
* the resident set size (RSS) of the process at iteration ``--val-interval``
  and at the end, and their ratio (fails above ``--max-rss-growth``);
* the files left in the work directory.

Example::

    python tools/analysis/soak.py --data-root data/coco_stuff164k \\
        --work-dir work_dirs/soak --iters 300 --val-interval 50

Exit status 0 if losses are finite, RSS growth is within the limit and
exactly ``--max-keep-ckpts`` checkpoints are left; 1 otherwise. A JSON
report is written to ``WORK_DIR/soak_report.json``.
"""
import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Dict, List

# isort: off
import dcp_mm  # noqa: F401  (compat shims; must precede mmseg)
# isort: on
from mmengine.hooks import Hook
from mmengine.runner import Runner

from dcp_mm.testing.tiny_config import tiny_train_config


def rss_mib() -> float:
    """Resident set size of this process in MiB (Linux /proc, else psutil).
    """
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import psutil
    return psutil.Process(os.getpid()).memory_info().rss / 2**20


class SoakProbeHook(Hook):
    """Record loss finiteness each iteration and RSS every ``interval``."""

    priority = 'VERY_LOW'

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.losses: List[float] = []
        self.rss: Dict[int, float] = {}

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        loss = outputs.get('loss') if outputs else None
        self.losses.append(float(loss) if loss is not None else math.nan)
        it = runner.iter + 1
        if it == 1 or it % self.interval == 0 or it == runner.max_iters:
            self.rss[it] = rss_mib()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        '--data-root',
        required=True,
        help='COCO-Stuff-164k layout (images/, annotations/)')
    p.add_argument('--work-dir', required=True)
    p.add_argument('--iters', type=int, default=300)
    p.add_argument('--val-interval', type=int, default=50)
    p.add_argument('--checkpoint-interval', type=int, default=50)
    p.add_argument('--max-keep-ckpts', type=int, default=2)
    p.add_argument('--batch-size', type=int, default=2)
    p.add_argument(
        '--max-rss-growth',
        type=float,
        default=0.10,
        help='allowed relative RSS growth from the first '
        'validation interval to the end')
    args = p.parse_args(argv)
    if args.iters < args.val_interval or args.val_interval < 1:
        p.error('need 1 <= --val-interval <= --iters')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    work = Path(args.work_dir)
    cfg = tiny_train_config(
        args.data_root,
        max_iters=args.iters,
        batch_size=args.batch_size,
        checkpoint_interval=args.checkpoint_interval,
        val_interval=args.val_interval,
        deterministic=False,
        default_hooks=dict(
            logger=dict(interval=args.val_interval),
            checkpoint=dict(max_keep_ckpts=args.max_keep_ckpts)))
    cfg.work_dir = str(work)
    runner = Runner.from_cfg(cfg)
    probe = SoakProbeHook(args.val_interval)
    runner.register_hook(probe)
    runner.train()

    first, last = args.val_interval, args.iters
    growth = probe.rss[last] / probe.rss[first] - 1.0
    files = sorted(
        str(p.relative_to(work)) for p in work.rglob('*') if p.is_file())
    ckpts = sorted(p.name for p in work.glob('*.pth'))
    report = dict(
        iters=args.iters,
        losses_finite=all(math.isfinite(x) for x in probe.losses),
        num_losses=len(probe.losses),
        first_loss=probe.losses[0],
        last_loss=probe.losses[-1],
        rss_mib=probe.rss,
        rss_growth=growth,
        checkpoints=ckpts,
        tmp_files=[f for f in files if '.tmp.' in f],
        num_files=len(files),
        disk_mib=sum((work / f).stat().st_size for f in files) / 2**20,
        files=files)
    ok = (
        report['losses_finite'] and growth <= args.max_rss_growth
        and len(ckpts) == args.max_keep_ckpts and not report['tmp_files'])
    report['ok'] = ok
    (work / 'soak_report.json').write_text(json.dumps(report, indent=2))
    print(
        json.dumps({
            k: v
            for k, v in report.items() if k != 'files'
        }, indent=2))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
