"""Sanity check that the whole DCP-CLIP pipeline can learn: the tiny model
(random CLIP, no category selection so that every category reaches the
decoder) overfits one synthetic image of three regions."""
import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from dcp_mm.testing import tiny_dcp_model_cfg

SIZE = 64


def _image_and_label():
    img = torch.zeros(3, SIZE, SIZE)
    label = torch.zeros(1, SIZE, SIZE, dtype=torch.long)
    half = SIZE // 2
    img[0, :, :half] = 200  # left: red
    img[2, :, half:] = 200  # right: blue
    img[1, half:, :] += 100  # bottom: + green
    label[:, :, half:] = 3  # 'sky' right
    label[:, half:, :half] = 2  # 'grass' bottom left, 'cat' top left
    return img, label


def _batch(img, label, n=2):
    samples = []
    for _ in range(n):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=label.clone())
        s.set_metainfo(
            dict(
                img_shape=(SIZE, SIZE),
                ori_shape=(SIZE, SIZE),
                pad_shape=(SIZE, SIZE)))
        samples.append(s)
    return dict(inputs=[img.clone() for _ in range(n)], data_samples=samples)


def test_tiny_model_overfits_one_image():
    torch.manual_seed(0)
    cfg = tiny_dcp_model_cfg(selector=None, post_processor=None)
    cfg['backbone']['finetune'] = 'full'
    cfg['data_preprocessor']['size'] = (SIZE, SIZE)
    model = MODELS.build(cfg)
    img, label = _image_and_label()
    data = _batch(img, label)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    first = None
    model.train()
    for _ in range(90):
        losses = model(**model.data_preprocessor(data, True), mode='loss')
        opt.zero_grad()
        losses['loss_bce'].backward()
        opt.step()
        first = first if first is not None else losses['loss_bce'].item()
    assert losses['loss_bce'].item() < 0.6 * first, (first, losses)
    model.eval()
    with torch.no_grad():
        d = model.data_preprocessor(data, False)
        pred = model.predict(d['inputs'], d['data_samples'])[0]
    acc = (pred.pred_sem_seg.data == label).float().mean().item()
    assert acc > 0.9, f'pixel accuracy {acc:.3f} after overfitting'
