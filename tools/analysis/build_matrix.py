"""Build every recombination of DCP-CLIP, CAT-Seg and SED parts (tiny CLIP).

Backbone {ViT, ConvNeXt} x selector {DCS, CAT-Seg pruning, none} x neck
{TGA, CAT-Seg aggregation, none} x head {Spatial Enhanced, CAT-Seg
upsampling, SED gradual fusion, SED gradual fusion + CER} x TV {on, off} on
the tiny random CLIP architectures (offline, CPU). A combination either
composes (one training step with a finite loss, one prediction) or is
refused at build time with an error naming both parts (see
the typed specs of ``dcp_mm/structures``). Prints a markdown table; with
``--out`` also writes it as CSV (with the full error messages).

Example::

    python tools/analysis/build_matrix.py --out work_dirs/build_matrix.csv
"""
import argparse
import sys
import time

# isort: off
import dcp_mm  # noqa: F401  (compat shims; must precede mmseg)
from dcp_mm.testing.recombination import (format_matrix, run_matrix,
                                          write_matrix_csv)
# isort: on
import torch
from mmengine.registry import init_default_scope


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', help='write the matrix as CSV to this file')
    parser.add_argument(
        '--size', type=int, default=64, help='input size (multiple of 32)')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument(
        '--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument(
        '--quiet', action='store_true', help='no progress on stderr')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.size % 32:
        raise SystemExit(f'--size must be a multiple of 32 (ConvNeXt stride '
                         f'32), got {args.size}')
    init_default_scope('mmseg')
    torch.set_num_threads(args.threads)

    def progress(r):
        if not args.quiet:
            c = r.combination
            print(
                f'{r.status:8s} {r.seconds:5.2f}s {c.backbone} / '
                f'{c.selector} / {c.neck} / {c.head} / TV {c.tv}',
                file=sys.stderr,
                flush=True)

    start = time.perf_counter()
    results = run_matrix(
        size=args.size, batch_size=args.batch_size, progress=progress)
    print(format_matrix(results))
    print(f'({time.perf_counter() - start:.1f} s)')
    if args.out:
        print(f'CSV written to {write_matrix_csv(results, args.out)}')
    return 1 if any(r.status == 'failed' for r in results) else 0


if __name__ == '__main__':
    sys.exit(main())
