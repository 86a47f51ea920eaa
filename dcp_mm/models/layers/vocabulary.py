"""Vocabularies: loading, validation and seen-category matching.

A vocabulary is an ordered list of T category names; the index of a name is
its label value. Names may carry comma-separated synonyms
(``'bed, couch'``); the text encoder decides how synonyms are embedded, this
module only validates and matches them.
"""
import os.path as osp
from collections import Counter
from typing import List, Sequence, Union

import torch

VocabularyLike = Union[str, Sequence[str]]


def synonyms_of(name: str) -> List[str]:
    """Split a category name into its comma-separated synonyms.

    ``'bed '`` -> ``['bed']``; ``'tree, trees'`` -> ``['tree', 'trees']``.
    """
    return [s.strip() for s in name.split(',') if s.strip()]


def check_vocabulary(names: Sequence[str],
                     what: str = 'vocabulary') -> List[str]:
    """Validate a vocabulary and return it as a list of stripped names.

    Raises:
        TypeError: ``names`` is a plain string or holds non-strings.
        ValueError: empty vocabulary, an empty name, or duplicated names
            (compared after stripping white space); the message lists them.
    """
    if isinstance(names, str):
        raise TypeError(
            f'{what} must be a sequence of category names, got the string '
            f'{names!r}; use load_vocabulary() for a file path.')
    names = list(names)
    if len(names) == 0:
        raise ValueError(f'{what} is empty: give at least one category name.')
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise TypeError(f'{what} holds non-string entries: {bad[:5]}')
    stripped = [n.strip() for n in names]
    empty = [i for i, n in enumerate(stripped) if not synonyms_of(n)]
    if empty:
        raise ValueError(f'{what} has empty names at positions {empty[:10]}')
    dup = sorted(n for n, c in Counter(stripped).items() if c > 1)
    if dup:
        raise ValueError(
            f'{what} has duplicated category names {dup[:10]}: every '
            'category must appear once (its index is its label value).')
    return stripped


def load_vocabulary(vocabulary: VocabularyLike) -> List[str]:
    """Load a vocabulary from a list of names or a text file.

    Args:
        vocabulary: a sequence of names, or the path of a UTF-8 text file with
            one name per line (blank lines and lines starting with ``#`` are
            skipped).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError / TypeError: see :func:`check_vocabulary`.
    """
    if isinstance(vocabulary, str):
        if not osp.isfile(vocabulary):
            raise FileNotFoundError(
                f'vocabulary file {vocabulary!r} not found; give a list of '
                'names or a text file with one name per line.')
        with open(vocabulary, encoding='utf-8') as f:
            lines = [ln.rstrip('\n') for ln in f]
        names = [ln for ln in lines if ln.strip() and not ln.startswith('#')]
        return check_vocabulary(names, f'vocabulary file {vocabulary!r}')
    return check_vocabulary(vocabulary)


def seen_category_mask(vocabulary: Sequence[str],
                       seen_vocabulary: Sequence[str]) -> torch.Tensor:
    """Which categories of ``vocabulary`` are seen in training.

    A category is seen if any of its synonyms equals (case-insensitive, white
    space stripped) any synonym of a training category.

    Returns:
        Tensor: (T,) bool, True for seen categories.
    """
    seen = {s.lower() for n in seen_vocabulary for s in synonyms_of(n)}
    return torch.tensor(
        [any(s.lower() in seen for s in synonyms_of(n)) for n in vocabulary],
        dtype=torch.bool)


def check_label_values(labels: torch.Tensor,
                       num_classes: int,
                       ignore_index: int,
                       source: str = 'a label map',
                       vocabulary: str = 'vocabulary') -> None:
    """Refuse label values that index no category of the vocabulary.

    Args:
        labels: label values of any shape (a label map or its unique
            values); ``ignore_index`` is allowed.
        num_classes: T, valid values are [0, T).
        ignore_index: the ignored label value.
        source: where the labels come from (a file name), for the message.
        vocabulary: which vocabulary, for the message.

    Raises:
        ValueError: naming the first 10 bad values, the source, [0, T) and
            ``ignore_index``, and what to check.
    """
    values = torch.unique(labels)
    bad = values[(values != ignore_index)
                 & ((values < 0) | (values >= num_classes))]
    if bad.numel():
        raise ValueError(
            f'label values {bad.tolist()[:10]} in {source} are outside the '
            f'{vocabulary} [0, {num_classes}) and not '
            f'ignore_index={ignore_index}: check the dataset and its '
            'classes / reduce_zero_label.')
