"""Convert an official SED checkpoint (detectron2) to dcp_mm.

Official weights: github.com/xb534/SED (ConvNeXt-B / ConvNeXt-L models
trained on COCO-Stuff). The ConvNeXt-B or ConvNeXt-L config is detected from
the CLIP width unless ``--config`` is given; every official key is mapped or
dropped with a stated reason (the text tower's fused ``in_proj_weight`` is
split into dcp_mm's q / k / v weights), and the result is checked key by key
and shape by shape against the dcp_mm model before it is saved.

Example::

    python tools/model_converters/sed2dcp.py sed_official_base.pth \\
        checkpoints/sed_convnextb_cocostuff.pth
    python tools/test.py configs/sed/sed_convnextb_cocostuff.py \\
        checkpoints/sed_convnextb_cocostuff.pth
"""
import sys
from pathlib import Path

from dcp_mm.utils.model_converters import SED_CONVERTER
from dcp_mm.utils.model_converters.cli import run

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'

if __name__ == '__main__':
    sys.exit(run(SED_CONVERTER, str(CONFIG_DIR), description=__doc__))
