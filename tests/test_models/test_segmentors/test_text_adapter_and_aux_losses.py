"""The segmentor's text_adapter and aux_losses slots (MAFT+'s CDT and RC):
where the adapter runs, what the losses get, the teacher's weights, that it
is neither saved nor run at test time, and composition errors."""
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from dcp_mm.testing import random_seg_batch, tiny_dcp_model_cfg

CDT = dict(type='ContentDependentTransfer', embed_dims=32, num_heads=8)
RC = dict(type='RepresentationCompensationLoss', loss_weight=0.1)


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')
    torch.manual_seed(0)


def build(**kw):
    return MODELS.build(tiny_dcp_model_cfg(**kw))


def test_adapter_runs_between_selection_and_neck(monkeypatch):
    model = build(text_adapter=CDT)
    seen = {}
    adapter_forward = model.text_adapter.forward
    neck_forward = model.neck.forward

    def adapter(text, dense):
        out = adapter_forward(text, dense)
        seen.update(text_in=text, dense=dense, text_out=out)
        return out

    def neck(dense, text, selection):
        seen.update(neck_text=text, selection=selection)
        return neck_forward(dense, text, selection)

    monkeypatch.setattr(model.text_adapter, 'forward', adapter)
    monkeypatch.setattr(model.neck, 'forward', neck)
    model.train()
    data = model.data_preprocessor(random_seg_batch(2, 32, 5), True)
    losses = model(**data, mode='loss')
    b, k = seen['selection'].indices.shape
    assert seen['text_in'].shape == (b, k, 2, 32)  # (B, K, P, D)
    assert seen['dense'].shape == (2, 32, 4, 4)
    assert seen['neck_text'] is seen['text_out']
    # the template embeddings of the selected categories, normalised
    text = model.text_encoder(model.current_vocabulary())
    torch.testing.assert_close(seen['text_in'],
                               text[seen['selection'].indices])
    losses['loss_bce'].backward()
    for name, p in model.text_adapter.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_aux_loss_teacher_initial_weights_not_saved_not_at_test():
    plain = build()
    model = build(aux_losses=[RC])
    (rc, ) = model.aux_losses
    teacher = rc.teacher
    for (n, p), (_, q) in zip(model.backbone.named_parameters(),
                              teacher.named_parameters()):
        assert torch.equal(p, q), n
    assert set(model.state_dict()) == set(plain.state_dict())
    assert sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in plain.parameters())
    model.train()
    data = model.data_preprocessor(random_seg_batch(2, 32, 5), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {
        'loss_bce', 'loss_rc', 'num_selected', 'bce_baseline'
    }
    assert 0 <= losses['loss_rc'].item() < 1e-10  # student = teacher
    # a training step moves the student away: loss_rc > 0 afterwards
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                          lr=1.0)
    (losses['loss_bce'] + losses['loss_rc']).backward()
    opt.step()
    assert model(**data, mode='loss')['loss_rc'].item() > 0

    def never(*args, **kwargs):
        raise AssertionError('the teacher must not run at test time')

    teacher.forward = never
    model.eval()
    with torch.no_grad():
        out = model(
            **model.data_preprocessor(random_seg_batch(1, 32, 5)),
            mode='predict')
    assert out[0].seg_logits.data.shape == (5, 32, 32)


def test_teacher_follows_the_model_dtype():
    model = build(aux_losses=[RC]).double()
    assert next(model.aux_losses[0].teacher.parameters()).dtype == \
        torch.float64


def test_composition_errors():
    with pytest.raises(ValueError, match='ContentDependentTransfer'):
        build(text_adapter=dict(CDT, embed_dims=64))
    with pytest.raises(ValueError, match='teacher_mode'):
        build(aux_losses=[dict(RC, teacher_mode='off')])
