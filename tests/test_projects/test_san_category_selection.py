"""projects/san_dcp: SAN + DCP-CLIP DCS (tiny SAN)."""
import pytest
import torch
from mmseg.registry import MODELS

from dcp_mm.structures import CategorySelection, pad_selections
from projects.san_dcp.san_dcp import (SANWithCategorySelection,
                                      san_clip_embeds, scatter_selected_logits)

CONFIG = ('san_dcp/configs/'
          'san-vit-b16-dcs_coco-stuff164k-640x640.py')
LOW = -100.0
# the random tiny CLIP spreads the patch argmax (Eq. 3) over all 5 names;
# DCS's fixed_k (top-K by S_c) makes a proper subset for the scatter checks
FIXED_K = dict(type='DCPCategorySelector', fixed_k=2)


def _selected_mask(selection: CategorySelection, t: int) -> torch.Tensor:
    """(B, K) selection -> (B, T) bool."""
    mask = torch.zeros(selection.indices.shape[0], t, dtype=torch.bool)
    for b, (idx, ok) in enumerate(zip(selection.indices, selection.valid)):
        mask[b, idx[ok]] = True
    return mask


def test_build_and_train_one_iteration(build_tiny_san, tiny_batch,
                                       one_step_trains):
    model = build_tiny_san(CONFIG)
    assert isinstance(model, SANWithCategorySelection)
    data = tiny_batch(model)
    losses = one_step_trains(model, data)
    assert 'decode.loss_cls_ce' in losses and 'decode.d1.loss_cls_ce' in \
        losses
    assert 1 <= float(losses['num_selected']) <= 5
    # training adds each image's ground-truth categories to its selection
    with torch.no_grad():
        _, _, sel = model.decode(
            data['inputs'], [],
            [torch.tensor([0, 1, 3]),
             torch.tensor([0, 1, 4])])
    mask = _selected_mask(sel, 5)
    assert mask[0, [0, 1, 3]].all() and mask[1, [0, 1, 4]].all()


@pytest.mark.parametrize('selector', [
    dict(type='DCPCategorySelector', tau=0.5),
    FIXED_K,
])
def test_selection_equals_selector_and_scatter(build_tiny_san, tiny_batch,
                                               selector):
    model = build_tiny_san(CONFIG, selector=selector).eval()
    inputs = tiny_batch(model)['inputs']
    with torch.no_grad():
        mask_props, mask_logits, sel = model.decode(inputs, [])
        # the selector on the same CLIP scores, independently
        feats = model.image_encoder(model.clip_inputs(inputs))
        cls_embed, dense = san_clip_embeds(model.decode_head.rec_with_attnbias,
                                           feats[-1], 'maskclip')
        class_embeds = model.text_encoder()  # (T + 1, D)
        ref = MODELS.build(selector).eval()(cls_embed, dense,
                                            class_embeds[:-1])
        # SAN's head on the FULL vocabulary, for the selected columns
        _, full_logits = model.decode_head.forward(
            [inputs, feats, class_embeds], [])
    assert torch.equal(sel.indices, ref.indices)
    assert torch.equal(sel.valid, ref.valid)
    logits = mask_logits[-1]  # (B, Q, T + 1)
    assert logits.shape == (2, 4, 6)
    assert mask_props[-1].shape[:2] == (2, 4)
    chosen = _selected_mask(sel, 5)
    if 'fixed_k' in selector:
        assert chosen.sum(1).tolist() == [2, 2]
    # (B, T) -> (B, Q, T)
    chosen_q = chosen[:, None, :].expand(-1, 4, -1)
    assert (logits[..., :5][~chosen_q] == LOW).all()
    torch.testing.assert_close(logits[..., :5][chosen_q],
                               full_logits[-1][..., :5][chosen_q])
    torch.testing.assert_close(logits[..., 5], full_logits[-1][..., 5])


def test_predict_shapes_and_zero_scores(build_tiny_san, tiny_batch):
    model = build_tiny_san(CONFIG, selector=FIXED_K).eval()
    data = tiny_batch(model)
    with torch.no_grad():
        out = model.predict(data['inputs'], data['data_samples'])
        _, _, sel = model.decode(data['inputs'], [])
    chosen = _selected_mask(sel, 5)
    assert chosen.sum(1).tolist() == [2, 2]
    for b, ds in enumerate(out):
        scores = ds.seg_logits.data  # (T, H, W)
        assert scores.shape == (5, 64, 64)
        assert ds.pred_sem_seg.data.shape == (1, 64, 64)
        # softmax of the low logit: at most exp(-100 - max logit) ~ 4e-44
        assert (scores[~chosen[b]] < 1e-30).all()
        assert chosen[b][ds.pred_sem_seg.data.unique()].all()


def test_scatter_selected_logits_hand_built():
    # image 0 selects {1, 3}, image 1 selects {3} (padded); union {1, 3}
    sel = pad_selections([torch.tensor([1, 3]), torch.tensor([3])])
    union = torch.tensor([1, 3])
    logits = torch.tensor([[[10., 30., 99.]], [[11., 31., 98.]]])  # (2,1,3)
    out = scatter_selected_logits(logits, union, sel, 5, LOW)
    assert out.tolist() == [[[LOW, 10., LOW, 30., LOW, 99.]],
                            [[LOW, LOW, LOW, 31., LOW, 98.]]]


@pytest.mark.parametrize('kwargs, match', [
    (dict(selector=None), 'selector'),
    (dict(unselected_logit=float('-inf')), 'finite'),
    (dict(dense_mode='bogus'), 'dense_mode'),
    (dict(text_encoder=dict(cat_bg=False)), 'cat_bg'),
])
def test_bad_arguments(build_tiny_san, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_tiny_san(CONFIG, **kwargs)


def test_labels_outside_vocabulary_raise(build_tiny_san, tiny_batch):
    model = build_tiny_san(CONFIG)
    data = tiny_batch(model, batch=1)
    data['data_samples'][0].gt_sem_seg.data[0, 0, 0] = 7
    with pytest.raises(ValueError, match=r'outside the vocabulary \[0, 5\)'):
        model.loss(data['inputs'], data['data_samples'])
