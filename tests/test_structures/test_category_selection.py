"""CategorySelection: scatter / mask / gather / packing against loops."""
import pytest
import torch

from dcp_mm.structures import CategorySelection


def selection():
    # image 0 keeps {1, 3}, image 1 keeps {0} (padded with its first index)
    return CategorySelection.from_index_sets(
        [torch.tensor([3, 1, 3]), torch.tensor([0])])


def test_from_index_sets_pads_and_sorts():
    sel = selection()
    assert sel.indices.tolist() == [[1, 3], [0, 0]]
    assert sel.valid.tolist() == [[True, True], [True, False]]
    assert sel.num_selected.tolist() == [2, 1]
    assert sel.union().tolist() == [0, 1, 3]
    with pytest.raises(ValueError, match='selected no category'):
        CategorySelection.from_index_sets(
            [torch.tensor([1]), torch.tensor([])])


def test_scatter_matches_a_loop_and_drops_padding():
    sel = selection()
    values = torch.randn(2, 2, 3, 4)  # (B, K, H, W)
    full = sel.scatter(values, 5, -100.0)
    assert full.shape == (2, 5, 3, 4)
    want = torch.full((2, 5, 3, 4), -100.0)
    for b in range(2):
        for k in range(2):
            if sel.valid[b, k]:
                want[b, sel.indices[b, k]] = values[b, k]
    assert torch.equal(full, want)
    # the padded entry (image 1, slot 1) did not overwrite category 0
    assert torch.equal(full[1, 0], values[1, 0])
    with pytest.raises(ValueError, match='do not match the selection'):
        sel.scatter(torch.randn(2, 3, 4), 5, 0.0)


def test_mask_gather_and_all_categories():
    sel = selection()
    assert sel.mask(5).tolist() == [[False, True, False, True, False],
                                    [True, False, False, False, False]]
    text = torch.arange(5 * 2 * 3.).reshape(5, 2, 3)  # (T, P, D)
    got = sel.gather(text)
    assert got.shape == (2, 2, 2, 3)
    assert torch.equal(got[0, 1], text[3]) and torch.equal(got[1, 1], text[0])
    every = CategorySelection.all_categories(2, 4, torch.device('cpu'))
    assert every.indices.tolist() == [[0, 1, 2, 3]] * 2 and every.valid.all()


def test_with_categories_adds_ground_truth():
    sel = selection()
    sel.cls_logits = torch.randn(2, 5)
    more = sel.with_categories([torch.tensor([4]), torch.tensor([0, 2])])
    assert more.indices.tolist() == [[1, 3, 4], [0, 2, 0]]  # pad = first
    assert more.valid.tolist() == [[True] * 3, [True, True, False]]
    assert more.cls_logits is sel.cls_logits


def test_with_negatives_adds_unselected_categories():
    sel = selection()  # {1, 3} and {0} of T = 6
    torch.manual_seed(0)
    more = sel.with_negatives(2, 6)
    for b, kept in enumerate(({1, 3}, {0})):
        got = set(more.indices[b][more.valid[b]].tolist())
        assert kept < got and len(got) == len(kept) + 2, got
    # more negatives than unselected categories: every category, no error
    assert set(sel.with_negatives(10, 6).indices[1].tolist()) == set(range(6))
    assert sel.with_negatives(0, 6) is sel
    every = sel.with_negatives('all', 6)
    assert every.indices.tolist() == [list(range(6))] * 2
    # the draw follows torch's global RNG: reproducible under a seed
    torch.manual_seed(1)
    a = sel.with_negatives(2, 6).indices
    torch.manual_seed(1)
    assert torch.equal(a, sel.with_negatives(2, 6).indices)
    for bad in (-1, 'some', 1.5, True):
        with pytest.raises(ValueError, match='train_cfg.negatives'):
            sel.with_negatives(bad, 6)
