"""Test (and evaluate) a dcp_mm model, like MMSegmentation 1.2.2's test.py.

Without ``--dataset`` the config's own ``test_dataloader`` /
``test_evaluator`` are used. With ``--dataset NAME [NAME ...]`` each named
zero-shot benchmark (``configs/_base_/datasets/NAME.py``) is evaluated in
turn by one runner (model built and checkpoint loaded once) and a summary
table is printed and written to ``work_dir/summary.{md,csv}`` (rows of
earlier runs into the same work dir are kept; a benchmark evaluated again
replaces its row); with the dcp_mm segmentor it has the selection
diagnostics (mean K, category and pixel recall of the selected categories).

The config is optional: ``tools/test.py CHECKPOINT`` builds the model from
the config saved in the checkpoint. With a config, the checkpoint must fit
the model exactly (an error names the keys and the differing settings).
``--selection oracle`` adds each image's ground-truth categories to the
selection (``model.test_cfg.selection='oracle'``); ``--selection both`` runs
the real selector and the oracle and lists both rows (``NAME`` and
``NAME (oracle)``): their mIoU difference is what the selector costs.
Without a checkpoint argument the model is evaluated as built (the "before
training" row).
"""
import argparse
import logging
import os
import os.path as osp
from pathlib import Path

# isort: off
import dcp_mm  # noqa: F401  (installs the compat shims; must precede mmseg)
from dcp_mm.evaluation.zero_shot import (BENCHMARKS, check_data_root,
                                         format_summary, resolve_benchmarks,
                                         run_benchmarks, summary_row,
                                         write_summary)
from dcp_mm.datasets import check_image_folders, wrap_checked
from dcp_mm.engine import (check_cfg_options, fix_persistent_workers,
                           setup_cpu_distributed)
from dcp_mm.engine.model_checkpoint import config_from_checkpoint
from dcp_mm.engine.config_checks import (CROP_SIZE_KEY, apply_crop_size,
                                         check_photometric_distortion)
# isort: on
from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

DATASET_CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs' / \
    '_base_' / 'datasets'
SELECTION_MODES = ('model', 'oracle', 'both')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='dcp_mm: test (and eval) a model, optionally on several '
        'zero-shot benchmarks',
        epilog='The checkpoint holds all weights, so model.pretrained is set '
        'to None (no CLIP weights are fetched).')
    parser.add_argument(
        'config',
        help='test config file path; omit it (give the checkpoint only) '
        'to use the config saved in the checkpoint')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='checkpoint file; with a config and no checkpoint the model is '
        'evaluated as built (CLIP towers from model.pretrained, the rest '
        'randomly initialised: the "before training" row)')
    parser.add_argument(
        '--selection',
        choices=SELECTION_MODES,
        default='model',
        help="categories that reach the decoder: 'model' (the selector of "
        "the config), 'oracle' (each image's ground-truth categories are "
        "added, as in training: model.test_cfg.selection='oracle') or "
        "'both' (two passes; the summary has a '<benchmark> (oracle)' row "
        'under each benchmark: the mIoU the selector costs)')
    parser.add_argument(
        '--dataset',
        nargs='+',
        metavar='NAME',
        choices=BENCHMARKS,
        help='evaluate these benchmarks instead of the config\'s test set '
        f'(one or more of: {", ".join(BENCHMARKS)}); their test_dataloader '
        'and test_evaluator come from configs/_base_/datasets/NAME.py')
    parser.add_argument(
        '--data-root',
        help='data root of the benchmark (only with exactly one --dataset)')
    parser.add_argument(
        '--work-dir',
        help='the directory for logs, metrics and summary.md / summary.csv')
    parser.add_argument(
        '--out',
        type=str,
        help='the directory to save output predictions for offline '
        'evaluation (one sub-directory per benchmark with --dataset)')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved (under '
        'SHOW_DIR/vis_data/vis_image). As in mmseg, SegVisualizationHook '
        'draws every interval-th image (50 by default; add --cfg-options '
        'default_hooks.visualization.interval=1 for all)')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
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
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--tta', action='store_true', help='Test time augmentation')
    # torch.distributed.launch / torchrun pass --local-rank (torch >= 2.0)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.checkpoint is None and not args.config.endswith('.py'):
        # one path that is not a config: the checkpoint (config from it)
        args.checkpoint, args.config = args.config, None
    if args.data_root is not None and not args.dataset:
        parser.error('--data-root needs exactly one --dataset NAME (for the '
                     "config's own test set use --cfg-options "
                     'test_dataloader.dataset.data_root=DIR)')
    return args


def trigger_visualization_hook(cfg: Config,
                               args: argparse.Namespace) -> Config:
    """Turn on ``SegVisualizationHook`` drawing (as mmseg's test.py)."""
    default_hooks = cfg.default_hooks
    if 'visualization' not in default_hooks:
        raise RuntimeError(
            'VisualizationHook must be included in default_hooks: add '
            "visualization=dict(type='SegVisualizationHook') to "
            'default_hooks of the config')
    visualization_hook = default_hooks['visualization']
    visualization_hook['draw'] = True
    if args.show:
        visualization_hook['show'] = True
        visualization_hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir
    return cfg


def set_selection_mode(cfg: Config, mode: str) -> Config:
    """``--selection``: 'oracle' sets ``model.test_cfg.selection``;
    'model' and 'both' leave the config (both adds an oracle pass later).
    """
    if mode not in SELECTION_MODES:
        raise ValueError(f'--selection must be one of {SELECTION_MODES}, got '
                         f'{mode!r}')
    if mode == 'oracle':
        model = cfg.model.get('module', cfg.model)  # tta wraps the model
        model.setdefault('test_cfg', {})
        model.test_cfg['selection'] = 'oracle'
    return cfg


def _oracle_pass(runner: Runner) -> None:
    """Switch the built model to oracle selection (``--selection both``).
    """
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    model = getattr(model, 'module', model)  # SegTTAModel
    model.test_cfg['selection'] = 'oracle'


def merge_oracle_rows(rows: list, oracle_rows: list) -> list:
    """Rows of the real selector, each followed by its oracle row
    (benchmark name ``'<name> (oracle)'``)."""
    if len(rows) != len(oracle_rows):
        raise ValueError(f'{len(rows)} rows but {len(oracle_rows)} oracle '
                         'rows')
    merged = []
    for row, oracle in zip(rows, oracle_rows):
        merged += [row, dict(oracle, benchmark=f'{row["benchmark"]} (oracle)')]
    return merged


def set_untrained_vocabulary(cfg: Config) -> None:
    """No checkpoint: the seen categories (``model.train_vocabulary``,
    needed by the tag validator, otherwise stored in checkpoints) are the
    classes of the config's training dataset."""
    model = cfg.model
    if model.get(
            'train_vocabulary') is not None or not cfg.get('train_dataloader'):
        return
    from mmseg.registry import DATASETS
    dataset = cfg.train_dataloader.dataset
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is None:
        dataset_cls = DATASETS.get(dataset['type'])
        classes = getattr(dataset_cls, 'METAINFO', {}).get('classes')
    if classes:
        model.train_vocabulary = list(classes)
        print_log(
            f'seen categories: the {len(classes)} classes of the training '
            f'dataset ({dataset["type"]})',
            logger='current')


def _check_checkpoint(checkpoint: str) -> None:
    remote = '://' in checkpoint  # http(s)://, s3:// ... : mmengine loads it
    if not remote and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {checkpoint}')


def _set_output_dir(evaluator, out_dir: str) -> None:
    """mmseg's --out: keep the predictions in ``out_dir``."""
    for ev in evaluator if isinstance(evaluator, list) else [evaluator]:
        ev['output_dir'] = out_dir
        ev['keep_results'] = True


def main(argv=None) -> None:
    args = parse_args(argv)
    # every check that needs no model (nor the model config) comes first
    benchmarks = None
    if args.dataset:
        benchmarks = resolve_benchmarks(args.dataset, args.data_root,
                                        DATASET_CONFIG_DIR)
    if args.checkpoint is not None:
        _check_checkpoint(args.checkpoint)
    for name, bench in (benchmarks or {}).items():
        check_data_root(bench['test_dataloader'], name)
        check_image_folders(bench['test_dataloader']['dataset'],
                            f'benchmark {name!r}')

    if args.config is None:
        cfg = config_from_checkpoint(args.checkpoint)
        cfg.pop('work_dir', None)  # the training run's, not this one's
        name = osp.splitext(osp.basename(args.checkpoint))[0]
    else:
        cfg = Config.fromfile(args.config)
        name = osp.splitext(osp.basename(args.config))[0]
    cfg.launcher = args.launcher
    check_cfg_options(cfg, args.cfg_options, args.allow_unknown_cfg_options)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
        if CROP_SIZE_KEY in args.cfg_options:  # one key sets every part
            apply_crop_size(cfg)
    check_photometric_distortion(cfg)
    if benchmarks is None and cfg.get('test_dataloader'):
        check_data_root(cfg.test_dataloader)
        check_image_folders(cfg.test_dataloader['dataset'],
                            'test_dataloader.dataset')

    # work_dir is determined in this priority: CLI > segment in file > filename
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', name)
    cfg.load_from = args.checkpoint
    if args.checkpoint is None:
        print_log(
            'no checkpoint: evaluating the model as built (CLIP weights from '
            f'model.pretrained={cfg.model.get("pretrained")!r}, every other '
            'weight randomly initialised)',
            logger='current',
            level=logging.WARNING)
        set_untrained_vocabulary(cfg)
    elif cfg.get('model', {}).get('pretrained') is not None:
        # the checkpoint holds every weight: do not fetch CLIP weights first
        print_log(
            f'model.pretrained={cfg.model.pretrained!r} is not used: '
            f'all weights are loaded from {args.checkpoint} (the CLIP towers '
            'are built randomly initialised, then overwritten).',
            logger='current')
        cfg.model.pretrained = None

    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
        if benchmarks is not None and len(benchmarks) > 1:
            print_log(
                'several --dataset with --show-dir: images are saved as '
                'test_<image file name>_0.png, so benchmarks sharing image '
                'files (voc20 / voc20b, pc59 / pc459) overwrite each '
                'other; use one --dataset per call to keep all',
                logger='current',
                level=logging.WARNING)

    set_selection_mode(cfg, args.selection)
    if args.tta:
        if 'tta_pipeline' not in cfg or 'tta_model' not in cfg:
            raise ValueError('--tta needs tta_pipeline and tta_model in the '
                             'config')
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
        for dl in ([cfg.test_dataloader] if benchmarks is None else
                   [b['test_dataloader'] for b in benchmarks.values()]):
            dl['dataset']['pipeline'] = cfg.tta_pipeline

    if args.out is not None:
        if benchmarks is None:
            _set_output_dir(cfg.test_evaluator, args.out)
        else:
            for name, bench in benchmarks.items():
                _set_output_dir(bench['test_evaluator'],
                                osp.join(args.out, name))

    # every sample is checked where it is loaded (an error naming the file)
    if benchmarks is None and cfg.get('test_dataloader'):
        cfg.test_dataloader = wrap_checked(cfg.test_dataloader)
    for bench in (benchmarks or {}).values():
        bench['test_dataloader'] = wrap_checked(bench['test_dataloader'])
    fix_persistent_workers(cfg)

    if benchmarks is not None:
        # the runner is built with the first benchmark as its test set
        first = next(iter(benchmarks.values()))
        cfg.test_dataloader = first['test_dataloader']
        cfg.test_evaluator = first['test_evaluator']

    # torchrun / slurm on a CPU-only machine: gloo + DDP without device ids
    setup_cpu_distributed(cfg, args.launcher)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)

    def evaluate() -> list:
        if benchmarks is not None:
            return run_benchmarks(runner, benchmarks, cfg.get('test_cfg'))
        metrics = runner.test()
        meta = getattr(runner.test_loop.dataloader.dataset, 'metainfo', {})
        classes = (meta or {}).get('classes')
        return [summary_row(name, metrics, len(classes) if classes else None)]

    rows = evaluate()
    if args.selection == 'both':
        runner.logger.info('second pass: oracle selection (the ground-truth '
                           'categories of each image are added)')
        _oracle_pass(runner)
        rows = merge_oracle_rows(rows, evaluate())
    elif args.selection == 'oracle':
        rows = [dict(r, benchmark=f'{r["benchmark"]} (oracle)') for r in rows]

    if is_main_process():
        table = format_summary(rows)  # this run's rows
        md, csv_path = write_summary(rows, cfg.work_dir)  # merged
        print(table)
        runner.logger.info(f'summary written to {md} and {csv_path}')


if __name__ == '__main__':
    main()
