"""Build script: ships ``configs/`` inside the package as ``dcp_mm/.mim``.

Everything else is declared in ``setup.cfg``. As mmsegmentation does
(``add_mim_extension``), a wheel or sdist build copies the repository's
``configs/`` to ``dcp_mm/.mim/configs`` so that an installed (non-editable)
package finds its configs from any directory
(:func:`dcp_mm.utils.config_root.config_root`); an editable install reads
the checkout's ``configs/`` directly and copies nothing.
"""
import shutil
import sys
from pathlib import Path
from setuptools import setup

EDITABLE = ('develop', 'editable_wheel')


def add_mim_extension() -> None:
    """Copy ``configs/`` to ``dcp_mm/.mim/configs`` for a non-editable
    build (replacing an older copy)."""
    if any(cmd in sys.argv for cmd in EDITABLE):
        return
    root = Path(__file__).resolve().parent
    src, dst = root / 'configs', root / 'dcp_mm' / '.mim' / 'configs'
    if not src.is_dir():  # building from an sdist: the copy is there
        return
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__'))


if __name__ == '__main__':
    add_mim_extension()
    setup()
