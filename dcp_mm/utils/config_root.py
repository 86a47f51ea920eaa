"""Where the shipped configs are: inside the package, or the checkout."""
from pathlib import Path

PACKAGE_CONFIGS = Path(__file__).resolve().parents[1] / '.mim' / 'configs'
"""``dcp_mm/.mim/configs``: the configs copied into a wheel (as mmseg ships
its ``.mim/configs``; ``setup.py`` copies them when a wheel is built)."""

CHECKOUT_CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
"""``<checkout>/configs`` (a source checkout or an editable install)."""


def config_root() -> Path:
    """The folder of the shipped configs (``dcp/``, ``catseg/``, ...).

    Returns the checkout's ``configs/`` for a source checkout (editable
    install), else the package copy of an installed wheel.

    Raises:
        FileNotFoundError: neither exists (a broken install).
    """
    for root in (CHECKOUT_CONFIGS, PACKAGE_CONFIGS):
        if (root / '_base_').is_dir():
            return root
    raise FileNotFoundError(
        f'no configs at {PACKAGE_CONFIGS} (wheel install) or '
        f'{CHECKOUT_CONFIGS} (source checkout): reinstall dcp_mm with '
        '"pip install ." or "pip install -e ." from its repository')
