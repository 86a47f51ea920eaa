"""Scan a whole dataset for bad samples before spending compute on it.

Every sample of the chosen dataloaders of a config (a dataset config such
as ``configs/_base_/datasets/ade150.py``, or a full model config) is
checked with :class:`~dcp_mm.datasets.CheckedDataset`'s file checks: image
and label files readable and complete (no truncated JPEG / PNG), the label
map of the size of its image, and label values (after
``reduce_zero_label`` and the classes' ``label_map``) in [0, T) or
``ignore_index``. The pipeline is not run. Prints a progress bar, then
every bad file with its problem; exit code 0 when all samples are good, 1
otherwise (2: the dataset cannot be built at all, e.g. an empty folder).

Example::

    python tools/analysis/check_dataset.py configs/_base_/datasets/ade150.py
    python tools/analysis/check_dataset.py \\
        configs/dcp/dcp_vitb16_cocostuff.py --split train \\
        --cfg-options train_dataloader.dataset.data_root=DIR
"""
import argparse
import sys
from typing import Dict, List, Optional

# isort: off
import dcp_mm  # noqa: F401  (compat shims; must precede mmseg)
from dcp_mm.datasets import CheckedDataset, check_image_folders
from dcp_mm.engine import check_cfg_options
# isort: on
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from mmseg.registry import DATASETS

SPLITS = ('train', 'val', 'test')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='dataset or model config file')
    parser.add_argument(
        '--split',
        nargs='+',
        choices=SPLITS,
        help='dataloaders to scan (default: every one the config has; '
        'test is skipped when it is the same as val)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='config overrides, key=value (e.g. a data_root)')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def scan(dataset: CheckedDataset, progress: bool = True) -> Dict[str, str]:
    """``{image path: problem}`` of every bad sample of ``dataset``."""
    bad: Dict[str, str] = {}
    bar = ProgressBar(len(dataset)) if progress else None
    for idx in range(len(dataset)):
        problem = dataset.check_sample(idx)
        if problem is None:
            try:
                problem = dataset.label_problem(idx)
            except Exception as err:  # noqa: B902  (reported per file)
                problem = f'label cannot be read ({err})'
        if problem is not None:
            bad[str(dataset.get_data_info(idx).get('img_path'))] = problem
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stdout.write('\n')
    return bad


def main(argv=None) -> int:
    """Scan; returns the exit code (0 good, 1 bad samples, 2 no dataset)."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    check_cfg_options(cfg, args.cfg_options)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    splits: List[str] = list(args.split or [
        s for s in SPLITS if cfg.get(f'{s}_dataloader')
        and not (s == 'test' and cfg.get('test_dataloader') == cfg.get(
            'val_dataloader') and cfg.get('val_dataloader'))
    ])
    if not splits:
        print(
            f'{args.config} defines no train / val / test dataloader',
            file=sys.stderr)
        return 2
    total_bad = 0
    for split in splits:
        loader: Optional[dict] = cfg.get(f'{split}_dataloader')
        if not loader:
            print(f'{args.config} has no {split}_dataloader', file=sys.stderr)
            return 2
        try:
            check_image_folders(loader['dataset'], f'{split}_dataloader')
            dataset = CheckedDataset(DATASETS.build(loader['dataset']))
        except Exception as err:  # noqa: B902  (reported, exit code 2)
            print(
                f'{split}: the dataset cannot be built: {err}',
                file=sys.stderr)
            return 2
        print(f'{split}: scanning {len(dataset)} samples')
        bad = scan(dataset, progress=not args.no_progress)
        total_bad += len(bad)
        for path, problem in bad.items():
            print(f'BAD {path}: {problem}')
        print(f'{split}: {len(bad)} bad of {len(dataset)} samples')
    return 1 if total_bad else 0


if __name__ == '__main__':
    sys.exit(main())
