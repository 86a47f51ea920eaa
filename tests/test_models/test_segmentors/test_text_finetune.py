"""Text q/v fine-tuning through the categories that reach the decoder."""
import torch
from mmseg.registry import MODELS

from dcp_mm.testing import random_seg_batch
from dcp_mm.testing import tiny_dcp_model_cfg as tiny_cfg

VOCAB = ['cat', 'dog', 'grass', 'sky', 'car', 'tree', 'road', 'boat']


def _model_and_batch():
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg(train_vocabulary=VOCAB)).train()
    model.selector.fixed_k = 2  # DCS keeps 2 categories (+ ground truth)
    gen = torch.Generator().manual_seed(1)
    data = model.data_preprocessor(
        random_seg_batch(2, 32, 2, generator=gen), True)  # labels {0, 1}
    return model, data


def _text_params(model):
    enc = model.text_encoder
    return {n: enc.text.get_parameter(n) for n in enc.trainable_names}


def test_text_qv_get_gradients_unselected_categories_none():
    model, data = _model_and_batch()
    assert model.text_encoder.finetune == 'attention'
    calls, cached = [], []
    encode = model.text_encoder.encode_selected
    forward = model.text_encoder.forward

    def record_encode(names, idx):
        calls.append(idx.tolist())
        return encode(names, idx)

    def leaf_forward(names):  # the cached rows as a leaf: see their grad
        cached.append(forward(names).requires_grad_(True))
        return cached[-1]

    model.text_encoder.encode_selected = record_encode
    model.text_encoder.forward = leaf_forward
    losses = model(**data, mode='loss')
    losses['loss_bce'].backward()
    # q/v of every text block get a finite, non-zero gradient
    for name, p in _text_params(model).items():
        assert 'q_proj' in name or 'v_proj' in name
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    # one tower pass with gradient, on selected + ground-truth categories
    gt = [torch.tensor([0, 1])] * 2
    with torch.no_grad():  # the same selection, without the tower pass
        text = model.text_encoder(model.current_vocabulary())
        sel = model._head_inputs(data['inputs'], text, gt).selection
    assert len(calls) == 1
    picked = set(calls[0])
    assert picked == set(sel.indices[sel.valid].tolist()) | {0, 1}
    assert len(picked) < len(VOCAB)  # some category is not selected
    # the cached (no-gradient) rows receive no gradient at all: the picked
    # rows are overwritten, the others never reach the loss
    assert cached[0].grad is None or not cached[0].grad.any()


def test_selected_loss_equals_full_vocabulary_finetune():
    """Writing the U selected rows over the cache gives the loss (and the
    q/v gradients) of fine-tuning on the whole vocabulary."""
    model, data = _model_and_batch()
    loss_sel = model(**data, mode='loss')['loss_bce']
    assert loss_sel.requires_grad
    loss_sel.backward()
    grads_sel = {n: p.grad.clone() for n, p in _text_params(model).items()}
    model.zero_grad(set_to_none=True)

    encode = model.text_encoder.encode_selected

    def full_vocabulary(names, idx):  # all T prompts with gradient
        full = encode(names, torch.arange(len(names)))
        return full[idx]

    model.text_encoder.encode_selected = full_vocabulary
    loss_full = model(**data, mode='loss')['loss_bce']
    loss_full.backward()
    assert abs(loss_sel.item() - loss_full.item()) <= 1e-6
    for name, p in _text_params(model).items():
        torch.testing.assert_close(
            p.grad, grads_sel[name], atol=1e-6, rtol=1e-4)


def test_frozen_text_and_eval_do_not_encode_with_gradient():
    model, data = _model_and_batch()
    calls = []
    model.text_encoder.encode_selected = \
        lambda names, idx: calls.append(1)  # must not be called
    with torch.no_grad():
        model(**data, mode='loss')
    model.eval()
    with torch.no_grad():
        model(**data, mode='predict')
    frozen = MODELS.build(
        tiny_cfg(
            train_vocabulary=VOCAB,
            text_encoder=dict(
                type='OpenCLIPTextEncoder',
                model_name='dcp-tiny',
                templates=['a {}'],
                finetune='frozen'))).train()
    frozen.text_encoder.encode_selected = \
        lambda names, idx: calls.append(1)
    frozen(**data, mode='loss')['loss_bce'].backward()
    assert calls == []
