"""Vocabulary checks of issue 9, case 6 and 9: one-name vocabularies,
path-like arguments that do not exist, case-insensitive duplicates and
identical prompts."""
import warnings

import pytest

from dcp_mm.models.utils.vocabulary import (check_vocabulary, load_vocabulary,
                                            prompt_key, vocabulary_argument)


def test_one_name_is_a_vocabulary():
    assert check_vocabulary(['cat']) == ['cat']
    assert vocabulary_argument(['cat']) == ['cat']
    assert vocabulary_argument(['cat', 'dog']) == ['cat', 'dog']


def test_path_like_argument_that_does_not_exist_is_an_error(tmp_path):
    """A mistyped vocabulary-file path was read as a one-name vocabulary."""
    for value in ('vocab.txt', str(tmp_path / 'words'), 'data/names.json'):
        with pytest.raises(FileNotFoundError, match='not found') as info:
            vocabulary_argument([value])
        assert value in str(info.value)
    real = tmp_path / 'v.txt'
    real.write_text('cat\ndog\n')
    assert vocabulary_argument([str(real)]) == str(real)
    assert load_vocabulary(vocabulary_argument([str(real)])) == ['cat', 'dog']
    with pytest.raises(ValueError, match='file names'):
        check_vocabulary(['cat', 'names.txt'])


@pytest.mark.parametrize('names, what', [
    (['cat', 'Cat', 'dog'], 'case-insensitive duplicates'),
    (['tree, trees', 'trees, tree', 'sky'], 'identical prompts'),
    (['big  cat', 'big cat'], 'identical prompts'),
])
def test_identical_prompts_warn(names, what):
    with pytest.warns(UserWarning, match=what):
        assert check_vocabulary(names) == [n.strip() for n in names]


def test_distinct_names_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        check_vocabulary(['cat', 'cats', 'dog, puppy', 'sky'])
    assert prompt_key('Tree,  Trees ') == ('tree', 'trees')
