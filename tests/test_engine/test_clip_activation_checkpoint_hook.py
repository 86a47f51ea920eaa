"""CLIPActivationCheckpointHook: same loss and grads, fewer saved bytes."""
import copy
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.structures import PixelData
from mmseg.registry import HOOKS, MODELS
from mmseg.structures import SegDataSample

from dcp_mm.engine import CLIPActivationCheckpointHook
from dcp_mm.testing import TINY_VOCABULARY, tiny_dcp_model_cfg


def _data(model):
    g = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, 3, (1, 32, 32), generator=g))
        s.set_metainfo(dict(img_shape=(32, 32), ori_shape=(32, 32)))
        samples.append(s)
    inputs = [
        torch.randint(0, 256, (3, 32, 32), generator=g).byte()
        for _ in range(2)
    ]
    return model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True)


def _loss_and_saved_bytes(model):
    """Loss, grads and bytes of the tensors autograd saves for backward."""
    data = _data(model)
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model.loss(data['inputs'], data['data_samples'])['loss_bce']
    loss.backward()
    grads = {
        n.replace('_checkpoint_wrapped_module.', ''): p.grad.clone()
        for n, p in model.named_parameters() if p.grad is not None
    }
    return loss, grads, sum(saved)


def test_hook_wraps_blocks_and_keeps_loss_and_grads():
    hook = HOOKS.build(dict(type='CLIPActivationCheckpointHook'))
    assert isinstance(hook, CLIPActivationCheckpointHook)
    torch.manual_seed(0)
    model = MODELS.build(tiny_dcp_model_cfg())
    model.set_vocabulary(list(TINY_VOCABULARY), 'train')
    model.train()
    ckpt = copy.deepcopy(model)
    runner = SimpleNamespace(
        model=ckpt, logger=MMLogger.get_current_instance())
    hook.before_train(runner)
    # 4 image + 2 text blocks: both towers fine-tune their q/v
    assert hook.num_wrapped == 6
    assert ckpt.state_dict().keys() == model.state_dict().keys()

    loss_a, grads_a, bytes_a = _loss_and_saved_bytes(model)
    loss_b, grads_b, bytes_b = _loss_and_saved_bytes(ckpt)
    assert loss_a.item() == pytest.approx(loss_b.item(), abs=1e-6)
    assert grads_a.keys() == grads_b.keys()
    for n in grads_a:
        assert torch.allclose(grads_a[n], grads_b[n], atol=1e-6), n
    assert bytes_b < bytes_a  # activation memory saved
    print(f'saved-for-backward bytes: {bytes_a} -> {bytes_b} '
          f'({1 - bytes_b / bytes_a:.1%} less)')
