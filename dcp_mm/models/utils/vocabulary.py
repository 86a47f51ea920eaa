"""Vocabularies: loading, validation and seen-category matching.

A vocabulary is an ordered list of T category names; the index of a name is
its label value. Names may carry comma-separated synonyms
(``'bed, couch'``); the text encoder decides how synonyms are embedded, this
module only validates and matches them.
"""
import os
import os.path as osp
import warnings
from collections import Counter, defaultdict
from typing import Dict, List, Sequence, Union

import torch

VocabularyLike = Union[str, Sequence[str]]

#: file suffixes that mark a vocabulary argument as a file path
VOCABULARY_FILE_SUFFIXES = ('.txt', '.json', '.csv', '.tsv', '.lst')


def split_synonyms(name: str) -> List[str]:
    """Split a category name into its comma-separated synonyms (the one
    synonym splitter of dcp_mm: vocabularies, prompts, seen categories).

    ``'bed '`` -> ``['bed']``; ``'tree, trees'`` -> ``['tree', 'trees']``.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: the name holds no synonym (empty or only commas).
    """
    if not isinstance(name, str):
        raise TypeError(
            f'class names must be strings, got {type(name).__name__} '
            f'{name!r}')
    synonyms = [s.strip() for s in name.split(',') if s.strip()]
    if not synonyms:
        raise ValueError(f'class name {name!r} is empty')
    return synonyms


def check_vocabulary(names: Sequence[str],
                     what: str = 'vocabulary') -> List[str]:
    """Validate a vocabulary and return it as a list of stripped names.

    Names that differ only in case or white space (``'cat'`` / ``'Cat'``)
    or in the order of their synonyms give identical CLIP prompts (CLIP's
    tokenizer lower-cases): a ``UserWarning`` names them (two labels for
    one text embedding split the votes between them).

    Raises:
        TypeError: ``names`` is a plain string or holds non-strings.
        ValueError: empty vocabulary, an empty name, duplicated names
            (compared after stripping white space), or a name that is a
            file path (``'vocab.txt'``); the message lists them.
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
    empty = [
        i for i, n in enumerate(stripped) if not n.replace(',', ' ').strip()
    ]
    if empty:
        raise ValueError(f'{what} has empty names at positions {empty[:10]}')
    dup = sorted(n for n, c in Counter(stripped).items() if c > 1)
    if dup:
        raise ValueError(
            f'{what} has duplicated category names {dup[:10]}: every '
            'category must appear once (its index is its label value).')
    paths = [
        n for n in stripped if n.lower().endswith(VOCABULARY_FILE_SUFFIXES)
    ]
    if paths:
        raise ValueError(
            f'{what} holds file names {paths[:5]} as category names: give '
            'the vocabulary file itself (one path, not in a list), and check '
            'that it exists.')
    _warn_identical_prompts(stripped, what)
    return stripped


def prompt_key(name: str) -> tuple:
    """What CLIP's tokenizer sees of a name: its synonyms lower-cased, white
    space collapsed, as a sorted tuple (equal keys, identical prompts)."""
    return tuple(
        sorted({' '.join(s.lower().split())
                for s in split_synonyms(name)}))


def _warn_identical_prompts(names: Sequence[str], what: str) -> None:
    groups: Dict[tuple, List[str]] = defaultdict(list)
    for n in names:
        groups[prompt_key(n)].append(n)
    same = [g for g in groups.values() if len(g) > 1]
    if not same:
        return
    case = [g for g in same if len({n.lower() for n in g}) == 1]
    other = [g for g in same if g not in case]
    parts = []
    if case:
        parts.append(f'case-insensitive duplicates {case[:5]}')
    if other:
        parts.append(f'names with identical prompts {other[:5]}')
    warnings.warn(
        f'{what} has {" and ".join(parts)}: CLIP lower-cases and '
        'collapses white space, so each group gets one text embedding under '
        'several labels (the argmax splits between them); keep one name per '
        'category.',
        UserWarning,
        stacklevel=3)


def vocabulary_argument(args: Sequence[str]) -> VocabularyLike:
    """A command line's ``--vocabulary`` values: names, or ONE file.

    One value that is an existing file is the vocabulary file; one value
    that looks like a path (a directory separator or a file suffix such as
    ``.txt``) but does not exist is an error, not a one-name vocabulary.

    Raises:
        FileNotFoundError: a path-like single value that does not exist.
    """
    args = list(args)
    if len(args) == 1:
        value = args[0]
        if osp.isfile(value):
            return value
        looks_like_path = (
            os.sep in value or '/' in value
            or value.lower().endswith(VOCABULARY_FILE_SUFFIXES))
        if looks_like_path:
            raise FileNotFoundError(
                f'vocabulary file {value!r} not found (resolved against '
                f'{osp.abspath(".")}); give an existing file with one name '
                'per line, or category names.')
    return args


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
    seen = {s.lower() for n in seen_vocabulary for s in split_synonyms(n)}
    return torch.tensor([
        any(s.lower() in seen for s in split_synonyms(n)) for n in vocabulary
    ],
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
