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

from dcp_mm.engine import (format_unknown_cfg_options, setup_cpu_distributed,
                           unknown_cfg_option_keys)
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
        '--strict-cfg-options',
        action='store_true',
        help='stop with an error (instead of a warning) when a '
        '--cfg-options key does not exist in the config')
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


def check_cfg_options(cfg: Config, options: dict, strict: bool) -> None:
    """Report ``--cfg-options`` keys that are not in ``cfg``.

    Raises:
        KeyError: ``strict`` and some keys are unknown.
    """
    unknown = unknown_cfg_option_keys(cfg, options)
    if not unknown:
        return
    msg = format_unknown_cfg_options(unknown)
    if strict:
        raise KeyError(msg)
    print_log(msg, logger='current', level=logging.WARNING)


def main(argv=None) -> None:
    args = parse_args(argv)

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        check_cfg_options(cfg, args.cfg_options, args.strict_cfg_options)
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

    if args.amp:
        enable_amp(cfg, get_device())

    cfg.resume = args.resume
    # torchrun / slurm on a CPU-only machine: gloo + DDP without device ids
    setup_cpu_distributed(cfg, args.launcher)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
