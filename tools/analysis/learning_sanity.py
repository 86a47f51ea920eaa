"""Learning sanity: can a small random-init CLIP model memorise real images?

Not a test (it takes minutes). Trains the DCP-CLIP model on the tiny random
CLIP architecture (``dcp-tiny``: ViT patch 8, width 64, 4 blocks) on the
COCO-Stuff-164k training images of ``--data-root`` (171 categories) and
evaluates it on the same images every ``--eval-interval`` iterations, three
times: with **all categories scored** (no selector: every category reaches
the decoder), with the model's **DCS selector**, and with the **oracle**
(DCS plus the image's ground-truth categories, the training condition).
Prints a table of train-set mIoU / aAcc (detectron2 convention: categories
without GT pixels leave the mean) against iterations, with the training
loss, its image-blind baseline (``bce_baseline``) and the selection's pixel
recall, and writes a PNG plot.

Recipe (defaults): 64 px resize of the whole image (no random crop: the
same images are evaluated), horizontal flip only, the image tower fully
fine-tuned at 0.1 x the head's learning rate, the text tower frozen,
AdamW 1e-3 with mmseg's poly decay over ``--iters``, batch 2, TGA /
decoder widths / 4 (``--head small``), and 24 random **training
negatives** per image (``model.train_cfg.negatives``: categories from the
whole vocabulary added to the training selection).
What matters (README): the negatives (without them training separates
only each image's ~10 selected categories, and scoring all 171 stays at
aAcc ~10 %), the image tower (with the default q/v fine-tuning at 0.01 x
lr the random CLIP features cannot be moved toward the fixed text
embeddings and the loss stays at its 1/K baseline; fully fine-tuned at
1 x lr it diverges back to it); ``'all'`` negatives (CAT-Seg's training)
sat at the baseline for 500 iterations.

    python tools/analysis/learning_sanity.py --data-root \\
        demo/data/coco_stuff164k --iters 2400 --eval-interval 400 \\
        --out docs/learning_sanity.png
"""
import argparse
import copy
import json
import random
import time
from pathlib import Path
from typing import Dict, List, Optional

# isort: off
import dcp_mm  # noqa: F401  (compat shims; must precede mmseg)
# isort: on
import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, METRICS, MODELS

from dcp_mm.testing.tiny_config import tiny_train_config

SMALL_HEAD = (
    'model.neck.cost_dims=32',
    'model.neck.sa_patch_dims=16',
    'model.decode_head.in_channels=32',
    'model.decode_head.channels=16',
    'model.decode_head.decoder_dims=(16,8)',
    'model.decode_head.shallow_dims=(16,8)',
    'model.decode_head.cost_guidance_dims=(8,4)',
    'model.decode_head.shallow_up_dims=(64,32)',
)
"""``--head small``: TGA and decoder widths / 4 (cost d = 32, decoder
(16, 8)), same architecture; 0.15 M head parameters. The head's cost grows
with K (one decoder pass per selected category), so a narrow head buys
the training negatives that the all-categories target needs."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data-root', default='demo/data/coco_stuff164k')
    p.add_argument('--size', type=int, default=64, help='input size (px)')
    p.add_argument('--iters', type=int, default=2400)
    p.add_argument('--eval-interval', type=int, default=400)
    p.add_argument('--batch-size', type=int, default=2)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument(
        '--schedule',
        default='poly',
        choices=('poly', 'constant'),
        help='learning-rate schedule over --iters (poly: mmseg\'s PolyLR, '
        'power 0.9, to 0)')
    p.add_argument(
        '--clip-lr-mult',
        type=float,
        default=0.1,
        help='learning-rate multiplier of the image tower')
    p.add_argument(
        '--finetune',
        default='full',
        choices=('frozen', 'attention', 'attention+pos', 'full'),
        help='image-tower fine-tuning mode')
    p.add_argument(
        '--head',
        default='small',
        choices=('small', 'default'),
        help='decode-head / TGA widths (small: SMALL_HEAD; default: the '
        'main config\'s)')
    p.add_argument(
        '--negatives',
        default='24',
        help="model.train_cfg.negatives: random extra categories per "
        "training image ('all': every category, CAT-Seg's training)")
    p.add_argument(
        '--augment',
        action='store_true',
        help='the training recipe\'s augmentation (random crop, flip, '
        'photometric) instead of a plain resize + flip')
    p.add_argument(
        '--minutes',
        type=float,
        default=20.0,
        help='training budget: wall time of the training steps (the '
        'evaluations excluded); run on an idle machine')
    p.add_argument(
        '--threads',
        type=int,
        default=2,
        help='torch threads (2: the two cores of the target)')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='more key=value overrides of the model config (e.g. '
        'model.decode_head.decoder_dims="(16,8)")')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default='learning_sanity.png')
    p.add_argument('--save', help='save the trained state dict here')
    return p.parse_args(argv)


def build(args):
    extra = [
        'model.post_processor=None',
        f'model.backbone.finetune={args.finetune}',
        f'model.train_cfg.negatives={args.negatives}',
    ] + list(SMALL_HEAD if args.head == 'small' else []) + list(
        args.cfg_options)
    cfg = tiny_train_config(
        args.data_root,
        size=args.size,
        batch_size=args.batch_size,
        classes=None,
        random_aug=args.augment,
        val_interval=args.iters,
        extra_options=extra)
    if not args.augment:  # resize + flip
        pipe = cfg.train_dataloader.dataset.pipeline
        pipe.insert(-1, dict(type='RandomFlip', prob=0.5))
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    eval_cfg = copy.deepcopy(cfg.val_dataloader.dataset)
    eval_cfg['data_prefix'] = cfg.train_dataloader.dataset.data_prefix
    eval_set = DATASETS.build(eval_cfg)
    model = MODELS.build(cfg.model)
    classes = list(train_set.metainfo['classes'])
    model.set_vocabulary(classes, 'train')
    model.set_vocabulary(classes, 'test')
    return cfg, model, train_set, eval_set


EVAL_MODES = ('all', 'dcs', 'oracle')
"""Evaluations: every category scored (no selector), the DCS selector,
DCS plus each image's ground-truth categories (``selection='oracle'``, the
training condition)."""


def evaluate(model, eval_set, mode: str) -> Dict[str, float]:
    """Train-set metrics (detectron2 convention) of the current model,
    plus ``absentPred``: the share (%) of labelled pixels predicted as a
    category that occurs in none of the images."""
    present, absent_px, labelled_px = set(), 0, 0
    for info in eval_set:
        label = info['data_samples'].gt_sem_seg.data
        present |= set(label.unique().tolist()) - {255}
    metric = METRICS.build(
        dict(type='OVIoUMetric', absent_classes='detectron2'))
    metric.dataset_meta = eval_set.metainfo
    selector = model.selector
    model.eval()
    if mode == 'all':
        model.selector = MODELS.build(dict(type='AllCategoriesSelector'))
    model.test_cfg['selection'] = 'oracle' if mode == 'oracle' else 'model'
    try:
        with torch.no_grad():
            for i in range(len(eval_set)):
                data = model.data_preprocessor(
                    pseudo_collate([eval_set[i]]), False)
                out = model.predict(data['inputs'], data['data_samples'])
                metric.process({}, [o.to_dict() for o in out])
                for o in out:
                    keep = o.gt_sem_seg.data != 255
                    pred = o.pred_sem_seg.data[keep]
                    absent = ~torch.isin(pred, torch.tensor(sorted(present)))
                    absent_px += int(absent.sum())
                    labelled_px += int(keep.sum())
    finally:
        model.selector = selector
        model.train()
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')  # no per-class tables
    try:
        out = metric.compute_metrics(metric.results)
    finally:
        logger.setLevel(level)
    out['absentPred'] = 100.0 * absent_px / max(labelled_px, 1)
    return out


def plot(rows: List[dict], out: str, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    it = [r['iter'] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
    a1.plot(it, [r['all_mIoU'] for r in rows], 'o-', label='mIoU, all')
    a1.plot(it, [r['all_aAcc'] for r in rows], 's-', label='aAcc, all')
    a1.plot(it, [r['dcs_mIoU'] for r in rows], 'o--', label='mIoU, DCS')
    a1.plot(it, [r['dcs_aAcc'] for r in rows], 's--', label='aAcc, DCS')
    a1.plot(it, [r['oracle_mIoU'] for r in rows], 'o:', label='mIoU, oracle')
    a1.plot(it, [r['oracle_aAcc'] for r in rows], 's:', label='aAcc, oracle')
    a1.axhline(60, color='grey', lw=0.5)
    a1.axhline(30, color='grey', lw=0.5)
    a1.set_xlabel('iteration')
    a1.set_ylabel('train-set %')
    a1.legend(fontsize=7)
    nan = float('nan')
    a2.plot(it, [r['loss'] or nan for r in rows], 'o-', label='loss_bce')
    a2.plot(
        it, [r['baseline'] or nan for r in rows], 'k--', label='bce_baseline')
    a2.set_xlabel('iteration')
    a2.legend(fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


def _fmt(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.3f}'


def format_table(rows: List[dict]) -> str:
    """Markdown table of the evaluation rows."""
    header = ('| iter | train min | CPU min | loss_bce | bce_baseline | '
              'mIoU (all) | aAcc (all) | mIoU (DCS) | aAcc (DCS) | K (DCS) | '
              'pix. recall (DCS) | mIoU (oracle) | aAcc (oracle) |')
    lines = [header, '|' + '---:|' * 13]
    for r in rows:
        lines.append('| ' + ' | '.join([
            str(r['iter']), f'{r["train_minutes"]:.1f}',
            f'{r["cpu_minutes"]:.1f}',
            _fmt(r['loss']),
            _fmt(r['baseline']), f'{r["all_mIoU"]:.2f}',
            f'{r["all_aAcc"]:.2f}', f'{r["dcs_mIoU"]:.2f}',
            f'{r["dcs_aAcc"]:.2f}', f'{r["K"]:.1f}', f'{r["pixRecall"]:.1f}',
            f'{r["oracle_mIoU"]:.2f}', f'{r["oracle_aAcc"]:.2f}'
        ]) + ' |')
    return '\n'.join(lines)


def write_outputs(rows: List[dict], args, num_images: int) -> None:
    """Plot and JSON of the rows so far (rewritten after every evaluation).
    """
    plot(
        rows, args.out,
        f'dcp-tiny, {num_images} COCO-Stuff train images, {args.size} px, '
        f'image tower {args.finetune} x{args.clip_lr_mult}')
    Path(args.out).with_suffix('.json').write_text(json.dumps(rows, indent=1))


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    init_default_scope('mmseg')
    cfg, model, train_set, eval_set = build(args)
    clip = [
        p for n, p in model.named_parameters()
        if p.requires_grad and n.startswith(('backbone', 'text_encoder'))
    ]
    rest = [
        p for n, p in model.named_parameters()
        if p.requires_grad and not n.startswith(('backbone', 'text_encoder'))
    ]
    optim = torch.optim.AdamW(
        [dict(params=rest),
         dict(params=clip, lr=args.lr * args.clip_lr_mult)],
        lr=args.lr,
        weight_decay=1e-4)
    base_lrs = [group['lr'] for group in optim.param_groups]
    model.train()
    rows, losses, bases = [], [], []
    order: List[int] = []
    start, cpu0, train_s = time.time(), time.process_time(), 0.0
    for it in range(args.iters + 1):
        # past --minutes of training: evaluate the model as it is, stop
        out_of_time = train_s > args.minutes * 60
        if it % args.eval_interval == 0 or it == args.iters or out_of_time:
            row = dict(
                iter=it,
                minutes=(time.time() - start) / 60,
                train_minutes=train_s / 60,
                cpu_minutes=(time.process_time() - cpu0) / 60)
            # None before the first training step (JSON null, '-' in tables)
            row['loss'] = float(np.mean(losses)) if losses else None
            row['baseline'] = float(np.mean(bases)) if bases else None
            losses, bases = [], []
            for mode in EVAL_MODES:
                m = evaluate(model, eval_set, mode)
                row[f'{mode}_mIoU'], row[f'{mode}_aAcc'] = m['mIoU'], m['aAcc']
                if mode == 'dcs':
                    row['K'], row['pixRecall'] = m['meanK'], m['pixRecall']
                if mode == 'all':
                    row['all_absentPred'] = m['absentPred']
            rows.append(row)
            print(
                f'iter {it:5d} ({row["train_minutes"]:.1f} min training, '
                f'{row["minutes"]:.1f} min in all, {row["cpu_minutes"]:.1f} '
                'CPU min): loss '
                f'{_fmt(row["loss"])} (baseline '
                f'{_fmt(row["baseline"])}) | all '
                f'categories mIoU {row["all_mIoU"]:.2f} aAcc '
                f'{row["all_aAcc"]:.2f} | DCS mIoU {row["dcs_mIoU"]:.2f} '
                f'aAcc {row["dcs_aAcc"]:.2f} K {row["K"]:.1f} pixel recall '
                f'{row["pixRecall"]:.1f} | all categories: '
                f'{row["all_absentPred"]:.1f} % of pixels predicted as a '
                'category absent from every image | oracle mIoU '
                f'{row["oracle_mIoU"]:.2f} aAcc {row["oracle_aAcc"]:.2f}',
                flush=True)
            write_outputs(rows, args, len(train_set))
        if it == args.iters or out_of_time:
            break
        step_start = time.time()
        if not order:
            order = random.sample(range(len(train_set)), len(train_set))
        idx = [order.pop() for _ in range(min(args.batch_size, len(order)))]
        data = model.data_preprocessor(
            pseudo_collate([train_set[i] for i in idx]), True)
        out = model.loss(data['inputs'], data['data_samples'])
        if args.schedule == 'poly':  # mmseg's PolyLR (power 0.9)
            for group, lr in zip(optim.param_groups, base_lrs):
                group['lr'] = lr * (1 - it / args.iters)**0.9
        optim.zero_grad()
        out['loss_bce'].backward()
        optim.step()
        train_s += time.time() - step_start
        losses.append(out['loss_bce'].item())
        bases.append(float(out['bce_baseline']))
        if (it + 1) % 50 == 0:
            print(
                f'  iter {it + 1}: loss_bce {np.mean(losses[-50:]):.4f} '
                f'bce_baseline {np.mean(bases[-50:]):.4f}',
                flush=True)
    print(f'\n{len(train_set)} training images, {args.size} px, finetune='
          f'{args.finetune} (x{args.clip_lr_mult} lr), lr {args.lr} '
          f'({args.schedule}), batch {args.batch_size}, augment='
          f'{args.augment}, head {args.head}, negatives {args.negatives}\n')
    print(format_table(rows))
    if args.save:
        torch.save(model.state_dict(), args.save)
    print(f'\nplot written to {args.out}')
    return rows


if __name__ == '__main__':
    main()
