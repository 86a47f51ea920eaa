"""Checkpoints that describe their model; strict checkpoint loading."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmseg.registry import HOOKS

from ..model_checkpoint import (MODEL_META_KEY, check_checkpoint_fits,
                                checkpoint_train_vocabulary, model_meta)


@HOOKS.register_module()
class ModelMetaHook(Hook):
    """Write the model's description into every checkpoint; check every
    checkpoint the runner loads against the model.

    * ``before_save_checkpoint``: ``checkpoint['meta']['dcp_model']`` =
      model config, shape-relevant summary (CLIP architecture, template set
      and count P, selector / neck / head types) and the training (seen)
      vocabulary (see :mod:`dcp_mm.engine.model_checkpoint`).
    * ``after_load_checkpoint`` (``load_from`` and ``--resume``, before the
      weights are copied): :func:`~dcp_mm.engine.model_checkpoint.
      check_checkpoint_fits` with the runner config's model: a missing /
      unexpected key or a shape mismatch stops the run with the keys, the
      likely cause and the ``--cfg-options`` fix, unless the config sets
      ``partial_load=True`` (then a table of what was not loaded is
      logged). The model's training vocabulary is set from the checkpoint
      (the training dataset's classes replace it when training starts).

    In ``configs/_base_/default_runtime.py``; mmengine's own loading is
    non-strict and only warns. Under mmengine's ``FlexibleRunner`` (FSDP /
    DeepSpeed, sharded states) the keys are not compared (the strategy
    loads them); the training vocabulary is still set.
    """

    priority = 'VERY_HIGH'

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model_cfg = runner.cfg.get('model') or {}
        meta = checkpoint.setdefault('meta', {})
        meta[MODEL_META_KEY] = model_meta(model_cfg, self._model(runner))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not isinstance(runner, Runner):
            vocab = checkpoint_train_vocabulary(checkpoint)
            model = self._model(runner)
            if vocab is not None and hasattr(model, 'train_vocabulary'):
                model.train_vocabulary = vocab
            print_log(
                f'{type(runner).__name__}: checkpoint keys are not checked '
                'by ModelMetaHook (sharded states)',
                logger='current')
            return
        strict = not runner.cfg.get('partial_load', False)
        check_checkpoint_fits(
            self._model(runner),
            checkpoint,
            runner.cfg.get('model'),
            strict=strict,
            source=(f'checkpoint {runner._load_from}'
                    if runner._load_from else 'the checkpoint to resume'))
