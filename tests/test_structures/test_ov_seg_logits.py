"""OVSegLogits: U selected channels, full T on demand, per-image output."""
import torch

from dcp_mm.structures import CategorySelection, OVSegLogits


def result():
    sel = CategorySelection.from_index_sets(
        [torch.tensor([1, 3]), torch.tensor([3])])
    logits = torch.randn(2, 2, 4, 6)  # (B, K, H, W)
    return OVSegLogits.from_selection(logits, sel, 5, -100.0), logits, sel


def test_union_channels_and_full_equal_scatter():
    res, logits, sel = result()
    assert res.categories.tolist() == [1, 3]
    assert res.selected.tolist() == [[True, True], [False, True]]
    assert res.logits.shape == (2, 2, 4, 6)  # U = 2, not T = 5
    assert torch.equal(res.full(), sel.scatter(logits, 5, -100.0))
    assert torch.equal(res.selected_mask(), sel.mask(5))
    # image 1 did not select category 1: its channel holds the fill
    assert torch.all(res.logits[1, 0] == -100.0)
    assert torch.equal(res.labels(), res.full().argmax(1))


def test_for_image_cuts_padding_unflips_and_resizes():
    res, _, _ = result()
    logits, cats = res.for_image(0, None, padding=(1, 2, 0, 1))
    assert logits.shape == (2, 3, 3) and cats.tolist() == [1, 3]
    assert torch.equal(logits, res.logits[0, :, 0:3, 1:4])
    flipped, _ = res.for_image(0, flip='horizontal')
    assert torch.equal(flipped, res.logits[0].flip(-1))
    full, cats = res.for_image(1, (8, 12), full=True)
    assert full.shape == (5, 8, 12) and cats.tolist() == list(range(5))
    assert torch.all(full[[0, 2, 4]] == -100.0)
