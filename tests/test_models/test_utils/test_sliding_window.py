"""Sliding windows over the selected categories (memory follows U)."""
import pytest
import torch

from dcp_mm.models.utils import ViewAccumulator, Window, sliding_windows
from dcp_mm.structures import CategorySelection, OVSegLogits


def test_windows_follow_mmseg_grid():
    boxes = sliding_windows((80, 96), (64, 64), (48, 48))
    assert boxes == [(0, 64, 0, 64), (0, 64, 32, 96), (16, 80, 0, 64),
                     (16, 80, 32, 96)]
    assert sliding_windows((32, 32), (64, 64), (48, 48)) == [(0, 32, 0, 32)]
    with pytest.raises(ValueError, match='stride_h'):
        sliding_windows((8, 8), (4, 4), (0, 4))


def view(indices, logits, dense=None):
    sel = CategorySelection.from_index_sets([torch.tensor(indices)])
    return OVSegLogits.from_selection(logits, sel, 6, -100.0, dense)


def test_average_over_a_growing_union_equals_full_vocabulary_average():
    acc = ViewAccumulator(1, (4, 6), 6, -100.0, torch.device('cpu'))
    a, b = torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4)
    acc.add_window(view([0, 2], a), Window(0, 4, 0, 4))
    acc.add_window(view([2, 5], b), Window(0, 4, 2, 6))
    res = acc.result()
    assert res.categories.tolist() == [0, 2, 5]
    # the same average over all T channels (unselected = probability 0)
    probs = torch.zeros(1, 6, 4, 6)
    count = torch.zeros(1, 1, 4, 6)
    probs[:, [0, 2], :, 0:4] += a.sigmoid()
    probs[:, [2, 5], :, 2:6] += b.sigmoid()
    count[..., 0:4] += 1
    count[..., 2:6] += 1
    want = torch.logit(probs / count)[:, [0, 2, 5]].clamp(min=-100.0)
    torch.testing.assert_close(res.logits, want)


def test_argmax_is_the_argmax_of_probabilities_without_ties():
    """Probabilities [0, 0, 3.1e-7, 5.0e-7] -> category 3 (a clamp to
    1e-6 made all four tie and argmax pick 0)."""
    acc = ViewAccumulator(1, (1, 1), 4, -100.0, torch.device('cpu'))
    p = torch.tensor([3.1e-7, 5.0e-7]).reshape(1, 2, 1, 1)
    acc.add_window(
        view([2, 3],
             torch.logit(p.double()).float()), Window(0, 1, 0, 1))
    res = acc.result()
    assert int(res.full().argmax(1)) == 3
    assert int(res.labels()) == 3


def test_dense_embeddings_are_stitched_and_global_view_wins():
    acc = ViewAccumulator(1, (8, 12), 6, -100.0, torch.device('cpu'))
    d1 = torch.ones(1, 3, 2, 2)
    d2 = 3 * torch.ones(1, 3, 2, 2)
    acc.add_window(view([0], torch.zeros(1, 1, 8, 8), d1), Window(0, 8, 0, 8))
    acc.add_window(view([0], torch.zeros(1, 1, 8, 8), d2), Window(0, 8, 4, 12))
    res = acc.result()
    # 4-pixel cells: a 2 x 3 grid, the middle column averaged
    assert res.dense_embeds.shape == (1, 3, 2, 3)
    assert res.dense_embeds[0, 0].tolist() == [[1, 2, 3], [1, 2, 3]]
    acc = ViewAccumulator(1, (8, 8), 6, -100.0, torch.device('cpu'))
    acc.add_window(view([0], torch.zeros(1, 1, 8, 8), d1), Window(0, 8, 0, 8))
    glob = view([4], torch.zeros(1, 1, 8, 8), d2)
    res = acc.result(glob)
    assert res.categories.tolist() == [0, 4]
    assert torch.equal(res.dense_embeds, d2)
    # (0.5 + 0) / 2 for category 0, (0 + 0.5) / 2 for category 4
    torch.testing.assert_close(res.logits.sigmoid(),
                               torch.full((1, 2, 8, 8), 0.25))
