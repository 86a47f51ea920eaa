"""Write a runnable tiny training config (tests, soak runs, examples).

The config is ``configs/dcp/dcp_tiny_cocostuff.py`` (the main DCP-CLIP
config on the random ``dcp-tiny`` CLIP at 64 px) trained on a COCO-Stuff-171
layout at ``data_root``; it is dumped to a single self-contained Python
config file, so ``tools/train.py`` and
``tools/dist_train.sh`` run it like any other config.
"""
from pathlib import Path
from typing import Optional, Sequence, Union

from mmengine.config import Config

from dcp_mm.engine.cfg_options import parse_cfg_options
from dcp_mm.utils.config_root import config_root

# frequent in the sample COCO-Stuff images: a small vocabulary keeps the
# tiny runs fast (the other categories map to the ignore index 255)
TINY_CLASSES = ('person', 'wall-concrete', 'clothes', 'tree', 'sky-other',
                'building-other')
MAIN_CONFIG = config_root() / 'dcp' / 'dcp_vitb16_cocostuff.py'
TINY_CONFIG = config_root() / 'dcp' / 'dcp_tiny_cocostuff.py'
"""The main config on the tiny CLIP at 64 px (inherits :data:`MAIN_CONFIG`,
the same as applying :data:`~dcp_mm.testing.TINY_CFG_OPTIONS` to it)."""


def tiny_train_pipeline(random_aug: bool = True,
                        size: int = 64,
                        load_image: Optional[dict] = None) -> list:
    """Training pipeline at ``size`` px.

    Args:
        random_aug: True: the main config's augmentation (resize short side,
            random crop, flip, photometric distortion); False: a
            deterministic resize to ``size`` x ``size`` (runs that must be
            comparable sample by sample, e.g. DDP vs one process).
        size: crop / resize size in pixels.
        load_image: image loading transform (default ``LoadImageFromFile``).
    """
    load = load_image or dict(type='LoadImageFromFile')
    if not random_aug:
        return [
            load,
            dict(type='LoadAnnotations'),
            dict(type='Resize', scale=(size, size), keep_ratio=False),
            dict(type='PackSegInputs')
        ]
    return [
        load,
        dict(type='LoadAnnotations'),
        dict(type='Resize', scale=(1333, size), keep_ratio=True),
        dict(type='RandomCrop', crop_size=(size, size), cat_max_ratio=1.0),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackSegInputs')
    ]


def tiny_train_config(data_root: Union[str, Path],
                      max_iters: int = 6,
                      batch_size: int = 2,
                      size: int = 32,
                      checkpoint_interval: int = 1000,
                      val_interval: Optional[int] = None,
                      classes: Optional[Sequence[str]] = TINY_CLASSES,
                      random_aug: bool = True,
                      seed: Optional[int] = 0,
                      deterministic: Optional[bool] = True,
                      extra_options: Sequence[str] = (),
                      **overrides) -> Config:
    """The main config shrunk to the tiny architecture, ready to train.

    Args:
        data_root: COCO-Stuff-164k layout (``images/train2017``,
            ``annotations/train2017``, ``*/val2017``).
        max_iters: training iterations.
        batch_size: images per process and iteration.
        size: crop / input size in pixels (32: 4 x 4 patch grid, window 2;
            64: the 8 x 8 grid of ``TINY_CFG_OPTIONS``, window 4).
        checkpoint_interval: ``CheckpointHook`` interval (iterations).
        val_interval: validation interval (iterations); None: no
            validation (``val_cfg`` and the val loader are removed).
        classes: vocabulary subset of COCO-Stuff-171 (``metainfo``); None =
            all 171 categories (much slower).
        random_aug: see :func:`tiny_train_pipeline`.
        seed: ``randomness.seed``; None keeps the shipped config's
            (``configs/_base_/default_runtime.py``).
        deterministic: ``randomness.deterministic``; None keeps the
            shipped config's.
        extra_options: more ``--cfg-options`` style ``key=value`` strings.
        **overrides: top-level keys merged last (``Config.merge_from_dict``).

    Returns:
        Config: constant learning rate (no scheduler), no gradient clipping,
        log every iteration, ``num_workers=0``, atomic checkpoint hook.
    """
    cfg = Config.fromfile(str(TINY_CONFIG))
    data_root = str(data_root)
    cfg.merge_from_dict(
        dict(
            model=dict(
                data_preprocessor=dict(size=(size, size)),
                decode_head=dict(window_size=max(2, size // 16)),
                test_cfg=dict(crop_size=(size, size), stride=(size, size)))))
    cfg.merge_from_dict(parse_cfg_options(list(extra_options)))
    loader = dict(num_workers=0, persistent_workers=False)
    dataset = dict(data_root=data_root)
    if classes is not None:
        dataset['metainfo'] = dict(classes=tuple(classes))
    cfg.merge_from_dict(
        dict(
            train_dataloader=dict(
                batch_size=batch_size, dataset=dataset, **loader),
            val_dataloader=dict(dataset=dataset, **loader),
            test_dataloader=dict(dataset=dataset, **loader),
            train_cfg=dict(
                max_iters=max_iters, val_interval=val_interval or max_iters),
            default_hooks=dict(
                logger=dict(interval=1),
                checkpoint=dict(
                    type='AtomicCheckpointHook', interval=checkpoint_interval),
                visualization=dict(type='SegVisualizationHook')),
            optim_wrapper=dict(optimizer=dict(lr=2e-3), clip_grad=None),
            model=dict(test_cfg=dict(mode='whole'))))
    if seed is not None:
        cfg.randomness.seed = seed
    if deterministic is not None:
        cfg.randomness.deterministic = deterministic
    cfg.train_dataloader.dataset.pipeline = tiny_train_pipeline(
        random_aug, size)
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(size, size), keep_ratio=False),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs')
    ]
    cfg.val_dataloader.dataset.pipeline = test_pipeline
    cfg.test_dataloader = cfg.val_dataloader
    if val_interval is None:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler = []
    hooks = list(cfg.get('custom_hooks', []))
    if not any(h.get('type') == 'RNGStateHook' for h in hooks):
        hooks.append(dict(type='RNGStateHook'))
    cfg.custom_hooks = hooks
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.merge_from_dict(overrides)
    return cfg


def write_tiny_train_config(path: Union[str, Path],
                            data_root: Union[str, Path], **kwargs) -> Path:
    """Dump :func:`tiny_train_config` (same arguments) to ``path``."""
    path = Path(path)
    tiny_train_config(data_root, **kwargs).dump(str(path))
    return path
