import pytest
import torch
import torch.nn.functional as F

from dcp_mm.models.layers import cosine_cost_volume
from dcp_mm.models.utils import load_vocabulary, seen_category_mask


def test_cost_volume_is_cosine():
    img, txt = torch.randn(2, 6, 3, 4), torch.randn(2, 5, 3, 6)
    cv = cosine_cost_volume(img, txt)
    assert cv.shape == (2, 5, 3, 3, 4)
    b, k, p, y, x = 1, 4, 2, 2, 3
    ref = F.cosine_similarity(img[b, :, y, x], txt[b, k, p], dim=0)
    torch.testing.assert_close(cv[b, k, p, y, x], ref)
    # invariant to the scale of either side
    torch.testing.assert_close(cosine_cost_volume(3 * img, 0.5 * txt), cv)
    with pytest.raises(ValueError, match='dims differ'):
        cosine_cost_volume(img, torch.randn(2, 5, 3, 7))


def test_vocabulary_loading_and_errors(tmp_path):
    f = tmp_path / 'vocab.txt'
    f.write_text('# comment\ncat\n\ndog, puppy\nbed \n')
    assert load_vocabulary(str(f)) == ['cat', 'dog, puppy', 'bed']
    with pytest.raises(FileNotFoundError, match='one name per line'):
        load_vocabulary(str(tmp_path / 'missing.txt'))
    with pytest.raises(ValueError, match='empty'):
        load_vocabulary([])
    with pytest.raises(ValueError, match=r"duplicated.*'cat'"):
        load_vocabulary(['cat', 'dog', 'cat '])
    with pytest.raises(TypeError, match='non-string'):
        load_vocabulary(['cat', 3])


def test_seen_mask_matches_synonyms():
    seen = seen_category_mask(['Cat', 'sofa, couch', 'zebra'],
                              ['cat', 'couch', 'dog'])
    assert seen.tolist() == [True, True, False]


def test_check_label_values():
    from dcp_mm.models.utils.vocabulary import check_label_values
    labels = torch.tensor([[0, 4, 255], [2, 2, 255]])
    check_label_values(labels, 5, 255)  # in range or ignored
    with pytest.raises(
            ValueError,
            match=r'\[-1, 5\] in x.png are outside the training vocabulary '
            r'\[0, 5\) and not ignore_index=255'):
        check_label_values(
            torch.tensor([-1, 0, 5, 255]), 5, 255, 'x.png',
            'training vocabulary')


def test_cost_volume_without_text_normalisation():
    """normalize_text=False uses the text as given (already unit-norm)."""
    dense = torch.randn(1, 4, 2, 2)
    text = torch.randn(1, 3, 2, 4)
    raw = cosine_cost_volume(dense, text, normalize_text=False)
    ref = torch.einsum('bdhw,bkpd->bkphw', F.normalize(dense, dim=1), text)
    torch.testing.assert_close(raw, ref)
    unit = F.normalize(text, dim=-1)
    torch.testing.assert_close(
        cosine_cost_volume(dense, unit, normalize_text=False),
        cosine_cost_volume(dense, text))
