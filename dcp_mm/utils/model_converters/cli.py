"""Command line shared by ``tools/model_converters/{catseg,sed}2dcp.py``."""
import argparse
import os
import os.path as osp
import pickle
import sys
from typing import List, Optional

from .core import CheckpointConverter
from .official import convert_checkpoint


def parse_args(argv: Optional[List[str]],
               description: str = '',
               default_config: Optional[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='official checkpoint (.pth or .pkl)')
    parser.add_argument('dst', help='output dcp_mm checkpoint (.pth)')
    parser.add_argument(
        '--config',
        default=default_config,
        help='dcp_mm config of the model (default: ' +
        (default_config or 'detected from the CLIP width of the checkpoint') +
        ')')
    return parser.parse_args(argv)


def run(converter: CheckpointConverter,
        config_dir: str,
        argv: Optional[List[str]] = None,
        description: str = '') -> int:
    """Convert ``src`` to ``dst``; 0 on success, 1 with a message on
    stderr otherwise."""
    args = parse_args(argv, description)
    if osp.abspath(args.src) == osp.abspath(args.dst):
        print('error: src and dst are the same file', file=sys.stderr)
        return 1
    if args.config is not None and not osp.isfile(args.config):
        print(f'error: config {args.config!r} not found', file=sys.stderr)
        return 1
    try:
        os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
        print(
            convert_checkpoint(converter, args.src, args.dst, args.config,
                               config_dir))
    except (KeyError, ValueError, TypeError, FileNotFoundError,
            pickle.UnpicklingError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f'error: {msg}', file=sys.stderr)
        return 1
    return 0
