"""Cost of fine-tuning the text tower's q/v per category, with all
prompt templates: measured for a few categories, extrapolated to the
categories that reach the decoder (selected-only) and to the vocabulary.

Fine-tuning the text tower means one tower pass with gradient per prompt
(category x template) each step; its time and activation memory grow
linearly with the number of prompts. The full COCO-Stuff step with 80
templates (13 680 prompts with gradient) does not fit a 24 GB CPU machine,
so this tool measures the text step alone (``encode_selected`` forward +
backward, the q/v of ``finetune='attention'``) for 1, 2 and 4 categories,
each in a fresh process (peak RSS of the step, VmHWM reset before it,
over the RSS before it), fits ``cost = a + b * categories`` and extrapolates to
``--selected`` categories (selected + ground truth per step: 29 measured
with one template by ``benchmark.py --text-finetune``) and to the T = 171
COCO-Stuff categories (what fine-tuning without ``encode_selected``
costs). Random weights (``pretrained=None``): the cost does not depend on
them. Prompts are cut to the longest tokenised prompt of each chunk, as
in training.

    python tools/analysis/text_finetune_cost.py --model ViT-B-16
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import List

import numpy as np


def one_run(model_name: str, categories: int, repeats: int,
            threads: int) -> dict:
    """Time and peak-memory increase of ``encode_selected`` + backward
    over the first ``categories`` COCO-Stuff categories (this process)."""
    import torch
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import dcp_mm  # noqa: F401
    from dcp_mm.datasets import COCO_STUFF_171_CLASSES
    torch.set_num_threads(threads)
    init_default_scope('mmseg')
    enc = MODELS.build(
        dict(
            type='OpenCLIPTextEncoder',
            model_name=model_name,
            pretrained=None,
            templates='imagenet80',
            finetune='attention'))
    enc.train()
    names = list(COCO_STUFF_171_CLASSES)
    idx = torch.arange(categories)
    rss_before = _status_mb('VmRSS')
    _reset_peak_rss()  # the peak of the step, not of imports / build
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = enc.encode_selected(names, idx)  # (U, P, D)
        out.sum().backward()
        times.append(time.perf_counter() - start)
        enc.zero_grad(set_to_none=True)
    peak = _status_mb('VmHWM')
    return dict(
        categories=categories,
        prompts=categories * enc.num_templates,
        templates=enc.num_templates,
        step_s=statistics.median(times),
        peak_extra_MB=peak - rss_before)


def _status_mb(key: str) -> float:
    """A memory line of /proc/self/status (VmRSS, VmHWM) in MB."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f'no {key} in /proc/self/status')


def _reset_peak_rss() -> None:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux:
    ``5`` to /proc/self/clear_refs)."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def fit_rows(measured: List[dict], targets: List[tuple]) -> List[dict]:
    """Least-squares ``a + b * categories`` of time and memory, evaluated
    at the (label, categories) ``targets``."""
    x = np.array([m['categories'] for m in measured], dtype=float)
    rows = []
    for label, n in targets:
        row = dict(
            what=label, categories=n, prompts=n * measured[0]['templates'])
        for key in ('step_s', 'peak_extra_MB'):
            b, a = np.polyfit(x, [m[key] for m in measured], 1)
            row[key] = a + b * n
        rows.append(row)
    return rows


def main(argv=None) -> List[dict]:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', default='ViT-B-16')
    p.add_argument('--categories', type=int, nargs='+', default=[1, 2, 4])
    p.add_argument('--selected', type=int, default=29)
    p.add_argument('--vocabulary', type=int, default=171)
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--one', type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one is not None:  # child process: one measurement as JSON
        print(
            json.dumps(
                one_run(args.model, args.one, args.repeats, args.threads)))
        return []
    measured = []
    for n in args.categories:
        out = subprocess.run([
            sys.executable, __file__, '--model', args.model, '--one',
            str(n), '--repeats',
            str(args.repeats), '--threads',
            str(args.threads)
        ],
                             capture_output=True,
                             text=True,
                             check=True)
        measured.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f'[text_finetune_cost] {measured[-1]}', flush=True)
    rows = [dict(m, what='measured') for m in measured] + fit_rows(
        measured, [('selected + GT (extrapolated)', args.selected),
                   ('full vocabulary (extrapolated)', args.vocabulary)])
    print(f'\n{args.model}, {measured[0]["templates"]} templates, '
          f'{args.threads} thread(s), text step only (forward + backward)\n')
    print('| rows | categories | prompts with gradient | s / step | '
          'peak extra MB |')
    print('|---|---:|---:|---:|---:|')
    for r in rows:
        print(f'| {r["what"]} | {r["categories"]} | {r["prompts"]} | '
              f'{r["step_s"]:.1f} | {r["peak_extra_MB"]:.0f} |')
    return rows


if __name__ == '__main__':
    main()
