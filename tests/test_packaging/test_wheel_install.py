"""A wheel install stands without its checkout: configs ship inside the
package (``dcp_mm/.mim/configs``), and the inferencer and
``tools/ablation.py --list`` run from another directory."""
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def venv(tmp_path_factory):
    """A fresh venv with dcp_mm installed from a wheel (non-editable); its
    dependencies come from the running environment through a .pth file."""
    tmp = tmp_path_factory.mktemp('wheel')
    src = tmp / 'src'
    src.mkdir()
    for name in ('setup.py', 'setup.cfg', 'pyproject.toml', 'README.md'):
        shutil.copy(REPO / name, src / name)
    for name in ('dcp_mm', 'configs'):
        shutil.copytree(
            REPO / name,
            src / name,
            ignore=shutil.ignore_patterns('__pycache__', '.mim'))
    subprocess.run([
        sys.executable, '-m', 'pip', 'wheel',
        str(src), '--no-deps', '--no-build-isolation', '-q', '-w',
        str(tmp / 'dist')
    ],
                   check=True)
    wheel = next((tmp / 'dist').glob('dcp_mm-*.whl'))
    env = tmp / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(env)],
                   check=True)
    python = env / 'bin' / 'python'
    site = Path(
        subprocess.check_output([
            str(python), '-c', 'import sysconfig; '
            'print(sysconfig.get_paths()["purelib"])'
        ],
                                text=True).strip())
    (site / 'deps.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    subprocess.run([
        sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target',
        str(site),
        str(wheel)
    ],
                   check=True)
    return python, site, tmp


@pytest.mark.slow
def test_configs_ship_inside_the_package(venv):
    python, site, tmp = venv
    out = subprocess.check_output([
        str(python), '-c', 'import dcp_mm; '
        'from dcp_mm.utils.config_root import config_root; '
        'print(dcp_mm.__file__); print(config_root())'
    ],
                                  cwd=tmp,
                                  text=True).split()
    assert out[0].startswith(str(site)), out
    assert out[1] == str(site / 'dcp_mm' / '.mim' / 'configs'), out
    assert (Path(out[1]) / 'dcp' / 'dcp_vitb16_cocostuff.py').is_file()


@pytest.mark.slow
def test_ablation_list_runs_from_another_directory(venv):
    python, site, tmp = venv
    out = subprocess.check_output(
        [str(python),
         str(REPO / 'tools' / 'ablation.py'), '--list'],
        cwd=tmp,
        text=True)
    assert f'configs: {site}' in out
    assert 'dcp/ablations/dcp-tau0_vitb16_cocostuff.py' in out


@pytest.mark.slow
def test_inferencer_runs_from_the_wheel(venv):
    python, site, tmp = venv
    script = textwrap.dedent("""
        import numpy as np
        from dcp_mm.apis import OVSegInferencer
        from dcp_mm.testing import TINY_CFG_OPTIONS
        from dcp_mm.utils.config_root import config_root
        from mmengine.config import DictAction
        import argparse
        p = argparse.ArgumentParser()
        p.add_argument('--o', nargs='+', action=DictAction)
        opts = p.parse_args(['--o', *TINY_CFG_OPTIONS,
                             'model.test_cfg.mode=whole']).o
        opts['model.train_vocabulary'] = ['cat', 'dog']
        cfg = str(config_root() / 'dcp' / 'dcp_vitb16_cocostuff.py')
        inf = OVSegInferencer(cfg, vocabulary=['cat', 'dog', 'sky'],
                              cfg_options=opts, device='cpu')
        img = np.random.RandomState(0).randint(0, 255, (40, 50, 3),
                                               dtype=np.uint8)
        out = inf(img, return_datasamples=True)
        print(tuple(out.pred_sem_seg.data.shape))
    """)
    out = subprocess.check_output([str(python), '-c', script],
                                  cwd=tmp,
                                  text=True,
                                  stderr=subprocess.STDOUT)
    assert out.strip().endswith('(1, 40, 50)'), out[-2000:]
