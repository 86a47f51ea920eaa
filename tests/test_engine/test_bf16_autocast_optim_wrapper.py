"""--amp on CPU: one bfloat16-autocast step vs one float32 step."""
import copy

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS, OPTIM_WRAPPERS
from mmseg.structures import SegDataSample

from dcp_mm.engine import BF16AutocastOptimWrapper
from dcp_mm.models.layers import cosine_cost_volume
from dcp_mm.models.losses import CategoryBCELoss
from dcp_mm.structures import CategorySelection
from dcp_mm.testing import TINY_VOCABULARY, tiny_dcp_model_cfg


def _batch():
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 256, (3, 32, 32), generator=g).byte())
        s = SegDataSample()
        label = torch.randint(0, 3, (1, 32, 32), generator=g)
        label[:, :4] = 255
        s.gt_sem_seg = PixelData(data=label)
        s.set_metainfo(dict(img_shape=(32, 32), ori_shape=(32, 32)))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def _step(model, wrapper_cfg):
    wrapper = OPTIM_WRAPPERS.build(
        wrapper_cfg,
        default_args=dict(
            optimizer=torch.optim.SGD(
                [p for p in model.parameters() if p.requires_grad], lr=0.1)))
    grads = {}
    orig = wrapper.step

    def step(**kwargs):  # record the gradients the optimizer sees
        for n, p in model.named_parameters():
            if p.grad is not None:
                grads[n] = p.grad.detach().clone()
        orig(**kwargs)

    wrapper.step = step
    losses = model.train_step(_batch(), wrapper)
    return losses['loss_bce'], grads


def test_built_from_registry_and_bad_args():
    model = torch.nn.Linear(2, 2)
    wrapper = OPTIM_WRAPPERS.build(
        dict(type='BF16AutocastOptimWrapper', device_type='cpu'),
        default_args=dict(optimizer=torch.optim.SGD(model.parameters(), 1)))
    assert isinstance(wrapper, BF16AutocastOptimWrapper)
    with wrapper.optim_context(model):
        out = model(torch.ones(1, 2))
    assert out.dtype == torch.bfloat16  # autocast is on
    assert model(torch.ones(1, 2)).dtype == torch.float32  # and off again
    with pytest.raises(ValueError, match='device_type'):
        BF16AutocastOptimWrapper(
            device_type='tpu',
            optimizer=torch.optim.SGD(model.parameters(), 1))


def test_cost_volume_and_loss_stay_float32_under_autocast():
    dense = torch.randn(2, 16, 4, 4)
    text = torch.randn(2, 3, 2, 16)
    ref = cosine_cost_volume(dense, text)
    sel = CategorySelection(
        indices=torch.tensor([[0, 1], [1, 2]]),
        valid=torch.ones(2, 2, dtype=torch.bool),
        cls_logits=torch.zeros(2, 3))
    logits = torch.randn(2, 2, 8, 8)
    label = torch.randint(0, 3, (2, 8, 8))
    loss_ref = CategoryBCELoss()(logits, label, sel)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        cost = cosine_cost_volume(dense.bfloat16(), text)
        loss = CategoryBCELoss()(logits.bfloat16(), label, sel)
    assert cost.dtype == torch.float32 and loss.dtype == torch.float32
    # only the bf16 rounding of the inputs remains (not of the cosines)
    assert torch.allclose(cost, ref, atol=2e-2)
    assert (cost.abs() <= 1 + 1e-6).all()
    assert loss.item() == pytest.approx(loss_ref.item(), rel=1e-2)


def test_one_amp_step_is_close_to_one_fp32_step():
    torch.manual_seed(0)
    model = MODELS.build(tiny_dcp_model_cfg())
    model.set_vocabulary(list(TINY_VOCABULARY), 'train')
    amp_model = copy.deepcopy(model)
    loss32, g32 = _step(model, dict(type='OptimWrapper'))
    loss16, g16 = _step(
        amp_model, dict(type='BF16AutocastOptimWrapper', device_type='cpu'))
    assert loss32.dtype == loss16.dtype == torch.float32
    assert torch.isfinite(loss16)
    rel = abs(loss16.item() - loss32.item()) / abs(loss32.item())
    assert rel < 2e-2, (loss16.item(), loss32.item())
    assert g32.keys() == g16.keys() and g32
    for n in g32:
        assert torch.isfinite(g16[n]).all(), n
        assert g16[n].dtype == torch.float32, n  # master grads stay fp32
    flat32 = torch.cat([g.flatten() for g in g32.values()])
    flat16 = torch.cat([g16[n].flatten() for n in g32])
    cos = torch.nn.functional.cosine_similarity(flat32, flat16, dim=0)
    assert cos > 0.99, cos
    for (n, p), p32 in zip(amp_model.named_parameters(), model.parameters()):
        assert p.dtype == torch.float32
        assert torch.allclose(p, p32, atol=5e-3), n
