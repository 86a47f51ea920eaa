"""AllCategoriesSelector: build, every category kept, [CLS] logits."""
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS


def test_keeps_all_and_scores_cls():
    sel = MODELS.build(dict(type='AllCategoriesSelector', logit_scale=10.0))
    cls, dense = torch.randn(2, 8), torch.randn(2, 8, 4, 4)
    text = F.normalize(torch.randn(5, 8), dim=-1)
    out = sel(cls, dense, text, [torch.tensor([1])] * 2)
    assert out.indices.tolist() == [[0, 1, 2, 3, 4]] * 2 and out.valid.all()
    want = 10.0 * F.normalize(cls, dim=-1) @ text.t()
    torch.testing.assert_close(out.cls_logits, want)
    assert list(sel.parameters()) == []  # nothing to train: no grad check


def test_bad_arguments():
    with pytest.raises(ValueError, match='logit_scale'):
        MODELS.build(dict(type='AllCategoriesSelector', logit_scale=0))
    sel = MODELS.build(dict(type='AllCategoriesSelector'))
    with pytest.raises(ValueError, match='D=8 differs'):
        sel(torch.randn(1, 8), torch.randn(1, 8, 2, 2), torch.randn(3, 4))
