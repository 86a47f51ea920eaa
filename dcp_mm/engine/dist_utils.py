"""Let mmengine's distributed launchers run on CPU-only machines (gloo).

mmengine 0.10.7's ``init_dist('pytorch' | 'slurm')`` always calls
``torch.cuda.set_device`` (which raises without an NVIDIA driver) and
``Runner.wrap_model`` always passes ``device_ids=[LOCAL_RANK]`` to
``MMDistributedDataParallel`` (DDP refuses device ids for CPU modules).
:func:`setup_cpu_distributed` fixes both from the tool, before the runner
is built, and leaves GPU runs untouched: on a CUDA machine it does nothing.
"""
import os
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Initialise a gloo process group and a CPU DDP wrapper config.

    Runs only when ``launcher`` is ``'pytorch'`` (torchrun: ``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` in the environment) or
    ``'slurm'`` and CUDA is unavailable. mmengine's ``Runner`` then finds
    the process group initialised and skips its own ``init_dist``.

    Args:
        cfg: the run's config; ``model_wrapper_cfg`` is set (if absent) to
            ``MMDistributedDataParallel`` with ``device_ids=None``.
        launcher: the tool's ``--launcher``.

    Returns:
        bool: True if the CPU process group was set up here.

    Raises:
        ValueError: ``cfg.env_cfg.dist_cfg.backend`` is neither 'gloo' nor
            'nccl' ('nccl', the GPU default, is replaced by 'gloo').
    """
    if launcher not in ('pytorch', 'slurm') or torch.cuda.is_available():
        return False
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}) or {})
    backend = dist_cfg.pop('backend', 'gloo')
    if backend not in ('gloo', 'nccl'):
        raise ValueError(f'CPU distributed training supports the gloo '
                         f'backend only, got {backend!r} in '
                         'env_cfg.dist_cfg.backend')
    if launcher == 'slurm':
        _slurm_env(dist_cfg.pop('port', None))
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo', **dist_cfg)
    cfg.env_cfg = dict(cfg.get('env_cfg', {}))
    cfg.env_cfg['dist_cfg'] = dict(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    return True


def _slurm_env(port: Optional[int]) -> None:
    """torchrun-style variables from SLURM's (as mmengine's slurm init)."""
    import subprocess
    node_list = os.environ['SLURM_NODELIST']
    addr = subprocess.getoutput(
        f'scontrol show hostname {node_list} | head -n1')
    os.environ.setdefault('MASTER_ADDR', addr)
    os.environ.setdefault('MASTER_PORT', str(port or 29500))
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ['SLURM_LOCALID']
