"""The training (seen) and test vocabularies of an open-vocabulary model."""
from typing import List, Optional

import torch
from mmseg.utils import SampleList
from torch import Tensor

from .vocabulary import (VocabularyLike, check_label_values, load_vocabulary,
                         seen_category_mask)


class OpenVocabularyMixin:
    """Vocabulary handling shared by open-vocabulary segmentors.

    The training vocabulary (= the seen categories) and the test
    vocabulary are lists of names, set from config, by
    :meth:`set_vocabulary`, or from the datasets' ``metainfo['classes']``
    by ``OVVocabularyHook``. In training the model uses the training
    vocabulary, in eval mode the test vocabulary (default: the training
    one). The training vocabulary is saved in the checkpoint's meta by
    :class:`~dcp_mm.engine.hooks.ModelMetaHook` and set back on loading,
    so a checkpoint knows its seen categories. Needs ``self.training``
    (an ``nn.Module``) and, for :meth:`gt_categories`,
    ``self.decode_head.ignore_index``.
    """

    def init_vocabularies(self, train: Optional[VocabularyLike],
                          test: Optional[VocabularyLike]) -> None:
        """Set both vocabularies (None: unset)."""
        self.train_vocabulary: Optional[List[str]] = None
        self.test_vocabulary: Optional[List[str]] = None
        for split, vocab in (('train', train), ('test', test)):
            if vocab is not None:
                self.set_vocabulary(vocab, split)

    def set_vocabulary(self,
                       vocabulary: VocabularyLike,
                       split: str = 'test') -> None:
        """Set the training (= seen) or test vocabulary (names or a file).

        Raises:
            ValueError: bad split, or a bad vocabulary (see
                :func:`~dcp_mm.models.utils.vocabulary.load_vocabulary`).
        """
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        setattr(self, f'{split}_vocabulary', load_vocabulary(vocabulary))

    def current_vocabulary(self) -> List[str]:
        """The vocabulary of this forward: training or test (eval mode).

        Raises:
            ValueError: no vocabulary set.
        """
        vocab = self.train_vocabulary if self.training else \
            self.test_vocabulary or self.train_vocabulary
        if vocab is None:
            raise ValueError('no vocabulary set: give model.train_vocabulary'
                             ' / test_vocabulary, call set_vocabulary(...), '
                             'or use a dataset with metainfo classes')
        return vocab

    def gt_categories(self, data_samples: SampleList,
                      num_classes: int) -> List[Tensor]:
        """The label values present in each image's ``gt_sem_seg``.

        Raises:
            ValueError: a label value outside [0, T) that is not the
                ignore index (names the label map).
        """
        if data_samples is None or any('gt_sem_seg' not in ds
                                       for ds in data_samples):
            raise ValueError(
                'the ground-truth categories are needed (training, or '
                "test_cfg.selection='oracle', which needs the ground truth): "
                'give data samples with gt_sem_seg')
        ignore, cats = self.decode_head.ignore_index, []
        for ds in data_samples:
            values = torch.unique(ds.gt_sem_seg.data)
            check_label_values(values, num_classes, ignore,
                               ds.metainfo.get('seg_map_path', 'a label map'),
                               'training vocabulary')
            cats.append(values[values != ignore].long())
        return cats

    def seen_mask(self, vocabulary: List[str]) -> Tensor:
        """(T,) bool: True for the categories of ``vocabulary`` that are in
        the training vocabulary (the seen categories).

        Raises:
            ValueError: no training vocabulary (needed by Tag Validation).
        """
        if self.train_vocabulary is None:
            raise ValueError('the seen categories are unknown: set '
                             'model.train_vocabulary or load a checkpoint '
                             'trained by dcp_mm')
        return seen_category_mask(vocabulary, self.train_vocabulary)
