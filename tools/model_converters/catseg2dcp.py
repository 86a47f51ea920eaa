"""Convert an official CAT-Seg checkpoint (detectron2) to dcp_mm.

Official weights: the CVPR 2024 checkpoints of github.com/cvlab-kaist/CAT-Seg
(ViT-B/16, ViT-L/14, trained on COCO-Stuff). The ViT-B/16 or ViT-L/14 config is
detected from the CLIP width unless ``--config`` is given; every official
key is mapped or dropped with a stated reason, and the result is checked
key by key and shape by shape against the dcp_mm model before it is saved.

Example::

    python tools/model_converters/catseg2dcp.py catseg_official_base.pth \\
        checkpoints/catseg_vitb16_cocostuff.pth
    python tools/test.py configs/catseg/catseg_vitb16_cocostuff.py \\
        checkpoints/catseg_vitb16_cocostuff.pth
"""
import sys
from pathlib import Path

from dcp_mm.utils.model_converters import CATSEG_CONVERTER
from dcp_mm.utils.model_converters.cli import run

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'

if __name__ == '__main__':
    sys.exit(run(CATSEG_CONVERTER, str(CONFIG_DIR), description=__doc__))
