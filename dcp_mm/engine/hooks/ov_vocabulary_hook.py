"""Give the segmentor its vocabularies from the datasets' metainfo."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmseg.registry import HOOKS


def _classes(loader) -> Optional[list]:
    dataset = getattr(loader, 'dataset', None)
    meta = getattr(dataset, 'metainfo', None) or {}
    classes = meta.get('classes')
    return list(classes) if classes else None


@HOOKS.register_module()
class OVVocabularyHook(Hook):
    """Set the training and test vocabularies of an open-vocabulary model.

    * ``before_train``: training vocabulary (= seen categories) from the
      training dataset's ``metainfo['classes']``;
    * ``before_val`` / ``before_test``: test vocabulary from the evaluated
      dataset, so the label values and the predicted channels agree.

    The model must have ``set_vocabulary(names, split)``
    (:class:`OpenVocabEncoderDecoder`); other models are left alone.
    """

    priority = 'NORMAL'

    @staticmethod
    def _model(runner: Runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _set(self, runner: Runner, loader, split: str) -> None:
        model = self._model(runner)
        classes = _classes(loader)
        if classes is None or not hasattr(model, 'set_vocabulary'):
            return
        model.set_vocabulary(classes, split)
        runner.logger.info(f'{split} vocabulary: {len(classes)} categories')

    def before_train(self, runner: Runner) -> None:
        self._set(runner, runner.train_dataloader, 'train')

    def before_val(self, runner: Runner) -> None:
        self._set(runner, runner.val_loop.dataloader, 'test')

    def before_test(self, runner: Runner) -> None:
        self._set(runner, runner.test_loop.dataloader, 'test')
