"""One crop-size key for every part, and pipeline settings refused early.

* :func:`apply_crop_size`: the configs have a top-level ``crop_size``
  (``configs/_base_/datasets/*.py``). mmengine evaluates a base file's
  variables when the file is read, so ``--cfg-options crop_size=(128,128)``
  alone changes that key and nothing that was built from it.
  ``tools/train.py`` / ``tools/test.py`` call this function when
  ``crop_size`` is among the ``--cfg-options``: it writes the size into
  every part that depends on it.
* :func:`check_photometric_distortion`: mmseg's ``PhotoMetricDistortion``
  draws ``numpy.random.randint(-hue_delta, hue_delta)`` and
  ``uniform(-brightness_delta, brightness_delta)``; ``hue_delta=0`` fails
  deep inside a dataloader worker with numpy's ``high <= 0``. Refused here,
  before anything is built, with the setting to use instead.
"""
from typing import Any, Iterator, List, Mapping, Tuple

CROP_SIZE_KEY = 'crop_size'
"""The single ``--cfg-options`` key of the crop size."""


def _pair(size: Any) -> Tuple[int, int]:
    if isinstance(size, int):
        size = (size, size)
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, int) and s > 0 for s in size)):
        raise ValueError(f'crop_size must be a positive int or a pair of '
                         f'positive ints (H, W), got {size!r}')
    return int(size[0]), int(size[1])


def _dataloaders(cfg: Mapping) -> Iterator[Tuple[str, Mapping]]:
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if isinstance(loader, Mapping) and loader.get('dataset'):
            yield key, loader['dataset']


def _pipelines(dataset: Mapping, where: str) -> Iterator[Tuple[str, List]]:
    """(location, pipeline list) of a dataset config and its wrapped ones."""
    if isinstance(dataset.get('pipeline'), (list, tuple)):
        yield f'{where}.pipeline', dataset['pipeline']
    if isinstance(dataset.get('dataset'), Mapping):
        yield from _pipelines(dataset['dataset'], f'{where}.dataset')
    for i, inner in enumerate(dataset.get('datasets') or []):
        yield from _pipelines(inner, f'{where}.datasets.{i}')


def apply_crop_size(cfg: Any, crop_size: Any = None) -> Tuple[int, int]:
    """Write one crop size into every part of a config that reads it.

    Parts (each only if present): the training pipeline's ``Resize``
    (short side = crop height, long side kept) and ``RandomCrop``
    ``crop_size``; ``model.data_preprocessor.size``;
    ``model.test_cfg.crop_size`` (slide / whole-mode resize; ``stride``
    scaled by the same factor); ``model.decode_head.window_size`` scaled by
    the same factor (the window covers the same share of the patch grid,
    whatever the patch size), and the top-level ``crop_size``.

    Args:
        cfg: mmengine Config (or dict), modified in place.
        crop_size: (H, W) or int; None = ``cfg.crop_size``.

    Returns:
        The (H, W) applied.

    Raises:
        ValueError: a bad size, a square window that does not scale to an
            integer (e.g. window 12 at 384 -> 128 gives 4, 100 does not),
            or no ``crop_size`` anywhere.
    """
    size = crop_size if crop_size is not None else cfg.get(CROP_SIZE_KEY)
    if size is None:
        raise ValueError('no crop_size given and the config has no '
                         'top-level crop_size')
    h, w = _pair(size)
    model = cfg.get('model') or {}
    old = None
    test_cfg = model.get('test_cfg') or {}
    if test_cfg.get('crop_size') is not None:
        old = _pair(tuple(test_cfg['crop_size']))
    elif (model.get('data_preprocessor') or {}).get('size') is not None:
        old = _pair(tuple(model['data_preprocessor']['size']))
    head = model.get('decode_head') or {}
    if old is not None and head.get('window_size') is not None:
        scaled = head['window_size'] * h / old[0]
        if scaled != int(scaled) or scaled < 1:
            raise ValueError(
                f'crop_size {(h, w)}: decode_head.window_size '
                f'{head["window_size"]} at crop {old} scales to {scaled}, '
                'not a positive integer; choose a crop size that keeps the '
                'window an integer (e.g. a multiple of '
                f'{old[0] // head["window_size"]} px)')
        head['window_size'] = int(scaled)
    if test_cfg.get('crop_size') is not None:
        if old is not None and test_cfg.get('stride') is not None:
            sh, sw = test_cfg['stride']
            test_cfg['stride'] = (max(1, round(sh * h / old[0])),
                                  max(1, round(sw * w / old[1])))
        test_cfg['crop_size'] = (h, w)
    if (model.get('data_preprocessor') or {}).get('size') is not None:
        model['data_preprocessor']['size'] = (h, w)
    train = cfg.get('train_dataloader')
    if isinstance(train, Mapping) and train.get('dataset'):
        for _, pipeline in _pipelines(train['dataset'], 'train_dataloader'):
            for t in pipeline:
                if t.get('type') == 'RandomCrop':
                    t['crop_size'] = (h, w)
                elif t.get('type') in ('Resize', 'RandomResize') and \
                        t.get('keep_ratio') and 'scale' in t:
                    t['scale'] = (max(t['scale']), h)
    cfg[CROP_SIZE_KEY] = (h, w)
    return h, w


def check_photometric_distortion(cfg: Mapping) -> None:
    """Refuse ``PhotoMetricDistortion`` settings that crash mmseg.

    Args:
        cfg: config (or dict) with ``*_dataloader`` entries.

    Raises:
        ValueError: ``hue_delta`` < 1 or ``brightness_delta`` < 0 (or not
            numbers) in any dataloader pipeline; the message names the
            pipeline position and how to switch the distortion off.
    """
    problems = []
    for key, dataset in _dataloaders(cfg):
        for where, pipeline in _pipelines(dataset, key + '.dataset'):
            for i, t in enumerate(pipeline):
                if t.get('type') != 'PhotoMetricDistortion':
                    continue
                hue = t.get('hue_delta', 18)
                bright = t.get('brightness_delta', 32)
                if not isinstance(hue, int) or hue < 1:
                    problems.append(
                        f'{where}.{i}.hue_delta={hue!r}: must be an int >= 1 '
                        '(mmseg draws numpy randint(-hue_delta, hue_delta), '
                        "which fails with 'high <= 0' for 0)")
                if not isinstance(bright, (int, float)) or bright < 0:
                    problems.append(
                        f'{where}.{i}.brightness_delta={bright!r}: must be a '
                        'number >= 0')
    if problems:
        raise ValueError(
            'PhotoMetricDistortion settings that mmseg cannot run:\n  ' +
            '\n  '.join(problems) + '\nto switch photometric augmentation '
            'off, remove the transform from the pipeline (e.g. give the '
            'whole pipeline list) instead of zeroing its deltas')
