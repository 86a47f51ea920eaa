"""Train a dcp_mm segmentor, like MMSegmentation 1.2.2's tools/train.py."""
import argparse
import logging
import os
import os.path as osp

# isort: off
import dcp_mm  # noqa: F401  (installs the compat shims; must precede mmseg)
# isort: on
from mmengine.config import Config, DictAction
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

from dcp_mm.datasets import (check_image_folders, read_bad_sample_report,
                             wrap_checked)
from dcp_mm.engine import (check_cfg_options, fix_persistent_workers,
                           setup_cpu_distributed)
from dcp_mm.engine.config_checks import (CROP_SIZE_KEY, apply_crop_size,
                                         check_photometric_distortion)

# devices on which mmengine's AmpOptimWrapper can be built (it asserts so)
AMP_DEVICES = ('cuda', 'npu', 'mlu', 'musa')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='dcp_mm: train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        default=False,
        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training. On CUDA/NPU/MLU/'
        "MUSA: mmengine's AmpOptimWrapper (float16 with dynamic loss "
        "scaling; optim_wrapper.dtype='bfloat16' via --cfg-options for "
        'bfloat16). On CPU: BF16AutocastOptimWrapper (bfloat16 autocast, '
        'no loss scaling needed). The loss and the cost-volume cosine '
        'similarities are computed in float32 either way')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--allow-unknown-cfg-options',
        action='store_true',
        help='warn (instead of stopping) when a --cfg-options key is '
        'neither in the config nor read by mmengine / mmseg / dcp_mm')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='train into a work dir that already holds checkpoints (they '
        'are overwritten); without it such a work dir is refused')
    parser.add_argument(
        '--partial-load',
        action='store_true',
        help='allow load_from / --resume checkpoints that do not fit the '
        'model exactly (CLIP-only init, converted weights): what is not '
        'loaded is logged as a table. Default: such a checkpoint is an error')
    parser.add_argument(
        '--skip-bad-samples',
        action='store_true',
        help='skip and count bad training samples (unreadable image, label '
        'of another size, label values out of range) instead of stopping '
        'at the first one; a summary is printed at the end '
        '(config key data_check.skip_bad)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch / torchrun pass --local-rank (torch >= 2.0)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_amp(cfg: Config, device: str) -> None:
    """Switch ``cfg.optim_wrapper`` to mixed precision (mmseg's --amp).

    ``device`` in :data:`AMP_DEVICES`: mmengine's ``AmpOptimWrapper``
    (float16 autocast + dynamic loss scaling). CPU:
    :class:`~dcp_mm.engine.BF16AutocastOptimWrapper` (bfloat16 autocast).

    Raises:
        RuntimeError: the config uses an optimizer wrapper other than
            ``OptimWrapper``, or ``device`` supports neither.
    """
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper in ('AmpOptimWrapper', 'BF16AutocastOptimWrapper'):
        print_log(
            'AMP training is already enabled in your config.',
            logger='current',
            level=logging.WARNING)
        return
    if optim_wrapper != 'OptimWrapper':
        raise RuntimeError(
            '--amp is only supported when the optimizer wrapper type is '
            f'OptimWrapper, but got {optim_wrapper}')
    if device in AMP_DEVICES:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    elif device == 'cpu':
        cfg.optim_wrapper.type = 'BF16AutocastOptimWrapper'
        cfg.optim_wrapper.setdefault('device_type', 'cpu')
    else:
        raise RuntimeError(
            f'--amp supports the devices {AMP_DEVICES + ("cpu", )}, but this '
            f'run uses {device!r}. Train without --amp.')


def check_work_dir(work_dir: str, resume: bool, overwrite: bool) -> None:
    """Refuse to train from scratch into a work dir holding checkpoints.

    Raises:
        FileExistsError: ``work_dir`` holds ``*.pth`` files or a
            ``last_checkpoint`` file, and neither ``resume`` nor
            ``overwrite``; the message lists them and the three ways on.
    """
    if resume or overwrite or not osp.isdir(work_dir):
        return
    found = sorted(
        f for f in os.listdir(work_dir)
        if f.endswith('.pth') or f == 'last_checkpoint')
    if found:
        shown = ', '.join(found[:5]) + (' ...' if len(found) > 5 else '')
        raise FileExistsError(
            f'work dir {work_dir!r} already holds checkpoints ({shown}): '
            'training from scratch would overwrite them. Continue the run '
            'with --resume, choose a new --work-dir, or pass --overwrite.')


def check_data(cfg: Config, report_file: str) -> None:
    """Every dataset of the run: its image folder exists and holds images
    (checked now, before the model is built), and every sample is
    checked where it is loaded (:class:`~dcp_mm.datasets.CheckedDataset`:
    an error naming the file, or, with ``data_check.skip_bad``, a counted
    skip)."""
    skip_bad = bool((cfg.get('data_check') or {}).get('skip_bad', False))
    for name in ('train_dataloader', 'val_dataloader'):
        loader = cfg.get(name)
        if not loader or not loader.get('dataset'):
            continue
        check_image_folders(loader['dataset'], f'{name}.dataset')
        cfg[name] = wrap_checked(
            loader,
            skip_bad=skip_bad and name == 'train_dataloader',
            report_file=report_file if name == 'train_dataloader' else None)


def bad_sample_summary(report_file: str) -> str:
    """The end-of-run summary of skipped samples ('' if none)."""
    bad = read_bad_sample_report(report_file)
    if not bad:
        return ''
    lines = [f'  {path}: {problem}' for path, problem in bad.items()]
    return (f'{len(bad)} bad training samples were skipped (listed in '
            f'{report_file}):\n' + '\n'.join(lines))


def main(argv=None) -> None:
    args = parse_args(argv)

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    check_cfg_options(cfg, args.cfg_options, args.allow_unknown_cfg_options)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
        if CROP_SIZE_KEY in args.cfg_options:  # one key sets every part
            apply_crop_size(cfg)
    check_photometric_distortion(cfg)

    # work_dir is determined in this priority: CLI > segment in file > filename
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    check_work_dir(cfg.work_dir, args.resume, args.overwrite)
    if args.amp:
        enable_amp(cfg, get_device())

    cfg.resume = args.resume
    if args.partial_load:
        cfg.partial_load = True
    if args.skip_bad_samples:
        cfg.data_check = dict(cfg.get('data_check') or {}, skip_bad=True)
    fix_persistent_workers(cfg)
    report_file = osp.join(
        osp.abspath(cfg.work_dir), f'bad_samples.{os.getpid()}.txt')
    check_data(cfg, report_file)
    # torchrun / slurm on a CPU-only machine: gloo + DDP without device ids
    setup_cpu_distributed(cfg, args.launcher)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()
    summary = bad_sample_summary(report_file)
    if summary:
        print_log(summary, logger='current', level=logging.WARNING)


if __name__ == '__main__':
    main()
