"""VisualPromptBank: prompt embeddings of the tiny ConvNeXt CLIP, cache in
memory and on disk (zero encoder passes on a repeated vocabulary), cache
key, text-only fallback count, masked preparation, errors."""
import logging

import mmcv
import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmseg.registry import MODELS

ENCODER = dict(
    type='CLIPConvNeXtBackbone',
    model_name='dcp-tiny-convnext',
    pretrained=None)


def _images(root, names=('cat', 'dog'), n=2):
    rng = np.random.default_rng(0)
    for name in names:
        (root / name).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
            mmcv.imwrite(img, str(root / name / f'{i}.png'))


def _bank(root, **kw):
    cfg = dict(
        type='VisualPromptBank',
        source=dict(type='ImageFolderPromptSource', root=str(root)),
        encoder=ENCODER,
        num_prompts=3,
        image_size=(64, 64))
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def test_embeddings_shapes_and_frozen_encoder(tmp_path):
    _images(tmp_path)
    bank = _bank(tmp_path)
    assert not any(p.requires_grad for p in bank.parameters())
    vp = bank(['cat', 'grass', 'dog'])
    assert vp.embeds.shape == (3, 3, 32)
    assert [s.shape for s in vp.stage_embeds] == [(3, 3, c)
                                                  for c in (40, 80, 160, 320)]
    assert vp.valid.tolist() == [[True, True, False], [False] * 3,
                                 [True, True, False]]
    norms = vp.embeds.norm(dim=-1)
    torch.testing.assert_close(norms[vp.valid], torch.ones(4))
    assert (norms[~vp.valid] == 0).all()
    assert bank.last_num_text_only == 1
    # the embedding is the encoder's on the prepared image
    img = mmcv.imread(str(tmp_path / 'dog' / '1.png'), channel_order='rgb')
    x = bank._from_array(img, np.ones(img.shape[:2], bool))
    with torch.no_grad():
        ref = torch.nn.functional.normalize(
            bank.encoder(x[None]).cls_embed, dim=-1)
    torch.testing.assert_close(vp.embeds[2, 1], ref[0])


def test_cache_hits_without_encoder_passes(tmp_path):
    _images(tmp_path)
    bank = _bank(tmp_path, cache_dir=str(tmp_path / 'cache'))
    first = bank(['cat', 'dog'])
    n = bank.num_image_forwards
    assert n > 0
    again = bank(['cat', 'dog'])
    assert bank.num_image_forwards == n  # memory hit
    assert torch.equal(first.embeds, again.embeds)
    # a new bank with the same weights: disk hit, no encoder pass
    other = _bank(tmp_path, cache_dir=str(tmp_path / 'cache'))
    disk = other(['cat', 'dog'])
    assert other.num_image_forwards == 0
    assert torch.equal(disk.embeds, first.embeds)
    assert all(
        torch.equal(a, b)
        for a, b in zip(disk.stage_embeds, first.stage_embeds))
    # another vocabulary, M, or other weights: a miss
    bank(['dog', 'cat'])
    assert bank.num_image_forwards > n
    n = bank.num_image_forwards
    with torch.no_grad():
        bank.encoder.visual.head.proj.weight.add_(0.1)
    changed = bank(['cat', 'dog'])
    assert bank.num_image_forwards > n
    assert not torch.allclose(changed.embeds, first.embeds)
    assert bank.cache_key(['cat'])[3] == 3  # M in the key


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_missing_prompts_are_logged(tmp_path):
    _images(tmp_path, names=('cat', ))
    bank = _bank(tmp_path)
    logger = MMLogger.get_current_instance()
    handler = _Records()
    logger.addHandler(handler)
    try:
        vp = bank(['cat', 'sky', 'road'])
    finally:
        logger.removeHandler(handler)
    assert any('2 of 3 categories have no visual prompt' in m
               for m in handler.messages), handler.messages
    assert vp.has_prompt.tolist() == [True, False, False]
    vp = bank(['sky'])  # no prompt at all
    assert not vp.valid.any() and vp.embeds.shape == (1, 3, 32)


def test_prepare_masks_and_crops():
    bank = _bank('/nonexistent', image_size=(4, 4))
    image = torch.arange(3 * 6 * 6, dtype=torch.float).reshape(3, 6, 6) + 1
    mask = torch.zeros(6, 6, dtype=torch.bool)
    mask[2:4, 1:5] = True
    mask[2, 1] = False
    out = bank.prepare(image, mask)
    assert out.shape == (3, 4, 4)
    # box rows 2..3, cols 1..4, squashed 2x4 -> 4x4: rows repeat
    expected = image[:, 2:4, 1:5] * mask[2:4, 1:5]
    ref = torch.nn.functional.interpolate(
        expected[None], (4, 4), mode='bilinear', align_corners=False)[0]
    torch.testing.assert_close(out, ref)
    assert out[0, 0, 0] < image[0, 2, 2]  # the masked pixel pulled down
    with pytest.raises(ValueError, match='non-empty'):
        bank.prepare(image, torch.zeros(6, 6, dtype=torch.bool))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_prompts'):
        _bank(tmp_path, num_prompts=0)
    with pytest.raises(ValueError, match='image_size'):
        _bank(tmp_path, image_size=(64, ))
    with pytest.raises(ValueError, match='source and encoder'):
        _bank(tmp_path, encoder=None)
    with pytest.raises(ValueError, match='duplicat'):
        _bank(tmp_path)(['cat', 'cat'])
