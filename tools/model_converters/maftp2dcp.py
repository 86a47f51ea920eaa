"""Convert an official MAFT+ checkpoint (detectron2) to dcp_mm.

Official weights: github.com/jiaosiyu1999/MAFT-Plus (``maftp_b.pth``,
ConvNeXt-B CLIP, trained on COCO-Stuff). The fine-tuned CLIP towers and the
Content-Dependent Transfer are mapped (every official key is mapped or
dropped with a stated reason: the frozen RC teacher ``backbone_t``, FC-CLIP's
mask-proposal head, the void embedding, the logit scale); every converted
key is checked against the dcp_mm model of ``--config`` (same key, same
shape) and the model keys MAFT+ does not have (the cost-volume neck and
decoder, trained from scratch) are printed and stored in the checkpoint's
meta. Use the result as ``load_from`` to start training from MAFT+'s CLIP
and CDT.

Example::

    python tools/model_converters/maftp2dcp.py maftp_b.pth \\
        checkpoints/maftp_b_init.pth
"""
import os
import os.path as osp
import pickle
import sys
from pathlib import Path

from dcp_mm.utils.model_converters import convert_maftp_checkpoint
from dcp_mm.utils.model_converters.cli import parse_args

DEFAULT_CONFIG = str(
    Path(__file__).resolve().parents[2] / 'configs' / 'maftp' /
    'maftp-cdt-rc_convnextb_cocostuff.py')


def main(argv=None) -> int:
    args = parse_args(argv, __doc__, str(DEFAULT_CONFIG))
    if osp.abspath(args.src) == osp.abspath(args.dst):
        print('error: src and dst are the same file', file=sys.stderr)
        return 1
    if not osp.isfile(args.config):
        print(f'error: config {args.config!r} not found', file=sys.stderr)
        return 1
    try:
        os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
        print(convert_maftp_checkpoint(args.src, args.dst, args.config))
    except (KeyError, ValueError, TypeError, FileNotFoundError,
            pickle.UnpicklingError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f'error: {msg}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
