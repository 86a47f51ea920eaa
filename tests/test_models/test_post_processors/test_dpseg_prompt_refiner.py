"""DPSegPromptRefiner: only the detected categories' prompts change, to
the bank's embedding of the masked crop of the input."""
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from dcp_mm.structures import VisualPrompts

T, M = 4, 2
STAGES = (40, 80, 160, 320)


@pytest.fixture(scope='module')
def bank():
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='VisualPromptBank',
            source=dict(type='ImageFolderPromptSource', root='/nonexistent'),
            encoder=dict(
                type='CLIPConvNeXtBackbone',
                model_name='dcp-tiny-convnext',
                pretrained=None),
            num_prompts=M,
            image_size=(32, 32)))


def _prompts():
    g = torch.Generator().manual_seed(3)
    valid = torch.tensor([[1, 1], [1, 0], [0, 0], [1, 1]], dtype=torch.bool)
    return VisualPrompts(
        F.normalize(torch.randn(T, M, 32, generator=g), dim=-1),
        [torch.randn(T, M, c, generator=g) for c in STAGES], valid)


def _pred():
    pred = torch.zeros(2, 32, 32, dtype=torch.long)
    pred[0, :, 16:] = 2  # image 0: categories 0 and 2 (512 px each)
    pred[1] = 1  # image 1: category 1, and 3 on 9 px only
    pred[1, :3, :3] = 3
    return pred


def test_only_detected_categories_change(bank):
    refiner = MODELS.build(dict(type='DPSegPromptRefiner', min_area=16))
    inputs = torch.randn(2, 3, 32, 32)
    prompts = _prompts()
    pred = _pred()
    out, refined = refiner(inputs, pred, prompts, bank)
    expected = torch.zeros(2, T, dtype=torch.bool)
    expected[0, 0] = expected[0, 2] = expected[1, 1] = True
    assert torch.equal(refined, expected)
    assert out.embeds.shape == (2, T, M, 32)
    for b in range(2):
        for c in range(T):
            if refined[b, c]:
                v, vj = bank.encode_masked(inputs[b:b + 1],
                                           (pred[b] == c)[None])
                torch.testing.assert_close(out.embeds[b, c], v.expand(M, -1))
                for got, ref in zip(out.stage_embeds, vj):
                    torch.testing.assert_close(got[b, c], ref.expand(M, -1))
                assert out.valid[b, c].all()
            else:
                assert torch.equal(out.embeds[b, c], prompts.embeds[c])
                assert torch.equal(out.valid[b, c], prompts.valid[c])
                for got, ref in zip(out.stage_embeds, prompts.stage_embeds):
                    assert torch.equal(got[b, c], ref[c])
    # the input prompts are untouched
    assert torch.equal(prompts.valid, _prompts().valid)


def test_max_categories_and_per_image_input(bank):
    refiner = MODELS.build(
        dict(type='DPSegPromptRefiner', min_area=1, max_categories=1))
    pred = _pred()
    detected = refiner.detect(pred, T)
    # image 0: a tie of 512 px, one kept; image 1: category 1 (1015 px)
    assert detected.sum(1).tolist() == [1, 1] and detected[1, 1]
    per_image = _prompts().per_image(2)
    out, _ = refiner(torch.randn(2, 3, 32, 32), pred, per_image, bank)
    assert out.valid.shape == (2, T, M)


def test_bad_arguments(bank):
    with pytest.raises(ValueError, match='min_area'):
        MODELS.build(dict(type='DPSegPromptRefiner', min_area=0))
    with pytest.raises(ValueError, match='max_categories'):
        MODELS.build(dict(type='DPSegPromptRefiner', max_categories=0))
    refiner = MODELS.build(dict(type='DPSegPromptRefiner'))
    with pytest.raises(ValueError, match='must be \\(B, H, W\\)'):
        refiner(torch.randn(2, 3, 32, 32), _pred()[:, :16], _prompts(), bank)
