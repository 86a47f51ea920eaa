"""Record / compare the outputs of every shipped model config.

A behaviour-preserving refactor must not change what the models compute.
:func:`record_all` builds every config under ``configs/`` (except
``_base_``) shrunk to the tiny random CLIP architectures, fills every
parameter deterministically *by name* (so that the values do not depend on
construction order), and records

* the test-mode ``seg_logits`` (every 8th pixel, and the sum, absolute
  sum and sum of squares of all of them), the predicted labels and
  the selected categories for two fixed 80 x 96 images, in the config's own
  ``test_cfg`` mode (slide mode runs 2 x 2 windows + the global view);
* the training losses for two fixed 64 x 64 images with labels;
* the parameter names and shapes of the full-size model (meta device), so
  that checkpoints and the official-checkpoint converters keep their keys.

Run ``python tests/test_models/test_segmentors/golden_outputs.py`` to
re-record (only when a change of behaviour is intended, and say so in the
commit message); ``test_behaviour_unchanged.py`` compares.
"""
import json
import lzma
import zlib
from pathlib import Path
from typing import Dict, List

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS

import dcp_mm  # noqa: F401
from dcp_mm.testing import TINY_TEMPLATES, TINY_VOCABULARY, random_seg_batch

REPO_ROOT = Path(__file__).resolve().parents[3]
CONFIG_DIR = REPO_ROOT / 'configs'
GOLDEN_FILE = REPO_ROOT / 'tests' / 'data' / 'golden_outputs.pt'
SAMPLE_COCO = REPO_ROOT / 'demo' / 'data' / 'coco_stuff164k'


def shipped_configs() -> List[Path]:
    """Every model config shipped in ``configs/`` (not the ``_base_``)."""
    return sorted(
        p for p in CONFIG_DIR.rglob('*.py') if '_base_' not in p.parts)


def tiny_model_cfg(path: Path) -> dict:
    """The model config of ``path`` shrunk to the tiny random CLIPs."""
    cfg = Config.fromfile(str(path))
    model = cfg.model
    model.pretrained = None
    convnext = model.backbone.type == 'CLIPConvNeXtBackbone'
    name = 'dcp-tiny-convnext' if convnext else 'dcp-tiny'
    model.backbone.model_name = name
    if not convnext:
        model.backbone.out_indices = (2, 3)
    model.text_encoder.model_name = name
    model.text_encoder.templates = list(TINY_TEMPLATES)
    model.data_preprocessor.size = (64, 64)
    model.test_cfg.crop_size = (64, 64)
    if model.test_cfg.get('stride') is not None:
        model.test_cfg.stride = (48, 48)
    neck = model.get('neck')
    if neck is not None and neck.type == 'CATSegAggregationNeck':
        neck.window_size = 4
        neck.pad_len = 6
    if model.decode_head.type == 'DCPSpatialEnhancedHead':
        model.decode_head.window_size = 4
    if model.get('visual_prompt_bank') is not None:  # DPSeg: tiny prompts
        bank = model.visual_prompt_bank
        bank.image_size = (64, 64)
        bank.num_prompts = 2
        bank.source.min_area = 16
        bank.source.dataset.data_root = str(SAMPLE_COCO)
    if model.get('prompt_refiner') is not None:
        model.prompt_refiner.min_area = 16
    if model.get('text_adapter') is not None:  # MAFT+ CDT: the tiny D
        model.text_adapter.embed_dims = 32
    for loss in model.get('aux_losses') or []:  # RC on a 2 x 2 map
        if convnext:
            loss.scales = (1, 2)
    return model.to_dict()


def fill_by_name(model: torch.nn.Module) -> None:
    """Overwrite every parameter with values that depend on its name only.

    Weights (>= 2-D): N(0, 1 / fan_in); 1-D parameters that were built
    constant (norm weights, zero biases) keep their constant; other 1-D /
    scalar parameters: N(0, 0.02^2).
    """
    with torch.no_grad():
        for name, p in model.named_parameters():
            g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            if p.dim() >= 2:
                std = p[0].numel()**-0.5
            elif p.numel() > 1 and bool((p == p.flatten()[0]).all()):
                continue
            else:
                std = 0.02
            p.copy_(torch.randn(p.shape, generator=g) * std)


def _batch(size, seed: int, with_labels: bool) -> dict:
    g = torch.Generator().manual_seed(seed)
    h, w = size
    data = random_seg_batch(2, max(h, w), len(TINY_VOCABULARY), g)
    for i, ds in enumerate(data['data_samples']):
        data['inputs'][i] = data['inputs'][i][:, :h, :w].contiguous()
        ds.gt_sem_seg = PixelData(
            data=ds.gt_sem_seg.data[:, :h, :w].contiguous())
        ds.set_metainfo(
            dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
    return data


def run_config(path: Path) -> Dict[str, object]:
    """The recorded outputs of one config (see the module docstring)."""
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(path))
    fill_by_name(model)
    model.set_vocabulary(list(TINY_VOCABULARY), 'train')
    model.set_vocabulary(list(TINY_VOCABULARY), 'test')
    out: Dict[str, object] = {}
    model.eval()
    data = model.data_preprocessor(_batch((80, 96), 1, True), False)
    with torch.no_grad():
        results = model.predict(data['inputs'], data['data_samples'])
    logits = torch.stack([r.seg_logits.data for r in results])
    out['seg_logits'] = logits[..., ::8, ::8].clone()
    out['checksums'] = torch.stack([
        logits.double().sum(),
        logits.double().abs().sum(),
        logits.double().square().sum()
    ])
    out['pred'] = torch.stack(
        [r.pred_sem_seg.data[:, ::2, ::2].to(torch.uint8) for r in results])
    out['selected'] = [r.selected_categories for r in results]
    model.train()
    data = model.data_preprocessor(_batch((64, 64), 2, True), True)
    torch.manual_seed(0)
    losses = model.loss(data['inputs'], data['data_samples'])
    out['losses'] = {k: float(v.detach()) for k, v in sorted(losses.items())}
    return out


def full_size_keys(path: Path) -> Dict[str, tuple]:
    """Parameter / buffer names and shapes of the full-size model."""
    init_default_scope('mmseg')
    cfg = Config.fromfile(str(path)).model
    cfg.pretrained = None
    with torch.device('meta'):
        model = MODELS.build(cfg.to_dict())
    return {
        k: tuple(v.shape)
        for k, v in model.state_dict().items() if torch.is_tensor(v)
    }


def pack_keys(keys: Dict[str, Dict[str, tuple]]) -> bytes:
    """Config -> state-dict key -> shape, as xz-compressed JSON."""
    return lzma.compress(json.dumps(keys, sort_keys=True).encode())


def unpack_keys(blob: bytes) -> Dict[str, Dict[str, list]]:
    """Inverse of :func:`pack_keys` (shapes come back as lists)."""
    return json.loads(lzma.decompress(blob))


def record_all() -> dict:
    """Outputs and full-size keys of every shipped config, keyed by its
    path in configs/."""
    outputs, keys = {}, {}
    for path in shipped_configs():
        rel = str(path.relative_to(CONFIG_DIR))
        print(f'recording {rel}', flush=True)
        outputs[rel] = run_config(path)
        keys[rel] = full_size_keys(path)
    return dict(outputs=outputs, keys=pack_keys(keys))


if __name__ == '__main__':
    torch.set_num_threads(1)
    GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
    torch.save(record_all(), GOLDEN_FILE)
    print(f'wrote {GOLDEN_FILE} ({GOLDEN_FILE.stat().st_size} bytes)')
