"""The MAFT+ configs: MAFT+'s recipe in configs/maftp/maftp-cdt-rc_..., and
every config with a MAFT+ part training from one tools/train.py command on
the COCO-Stuff sample images (tiny CLIP, 64 px, 2 iterations), with
loss_rc logged and no teacher weights in the checkpoint."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from dcp_mm.testing import TINY_CFG_OPTIONS, TINY_MAFTP_CFG_OPTIONS

REPO = Path(__file__).resolve().parents[2]
MAFTP = REPO / 'configs/maftp/maftp-cdt-rc_convnextb_cocostuff.py'
_TINY_VIT = [
    'model.pretrained=None',
    'model.backbone.model_name=dcp-tiny',
    'model.backbone.out_indices=(2,3)',
    'model.text_encoder.model_name=dcp-tiny',
    'model.data_preprocessor.size=(64,64)',
    'model.test_cfg.crop_size=(64,64)',
    'model.test_cfg.stride=(48,48)',
]
_CATSEG = _TINY_VIT + ['model.neck.window_size=4', 'model.neck.pad_len=6']
_CDT = ['model.text_adapter.embed_dims=32']
# config -> its tiny --cfg-options
RUNS = {
    'maftp/maftp-cdt-rc_convnextb_cocostuff.py': TINY_MAFTP_CFG_OPTIONS,
    'recombination/catseg-cdt_vitb16_cocostuff.py': _CATSEG + _CDT,
    'recombination/catseg-rc_vitb16_cocostuff.py': _CATSEG,
    'recombination/dcp-cdt_vitb16_cocostuff.py': TINY_CFG_OPTIONS + _CDT,
    'recombination/dcp-rc_vitb16_cocostuff.py': TINY_CFG_OPTIONS,
}
SHORT = [
    'train_dataloader.batch_size=2',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'train_dataloader.dataset.pipeline.2.scale=(1333,64)',
    'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
    'train_dataloader.dataset.data_root=data/coco_stuff164k',
    'train_cfg.max_iters=2',
    'train_cfg.val_begin=1000',  # no validation at the end of training
    'default_hooks.checkpoint.interval=2',
    'default_hooks.logger.interval=1',
]


def test_maftp_recipe():
    cfg = Config.fromfile(str(MAFTP))
    m = cfg.model
    assert m.pretrained == 'laion_aesthetic_s13b_b82k_augreg'
    assert m.backbone.type == 'CLIPConvNeXtBackbone'
    assert m.backbone.model_name == 'convnext_base_w_320'
    assert m.backbone.finetune == 'stem+stages'
    assert m.text_encoder.finetune == 'frozen'
    assert m.text_encoder.templates == 'vild14'
    assert m.text_encoder.synonyms == 'max' and m.neck.synonym_max
    assert m.selector is None  # every category reaches the CDT
    assert m.decode_head.type == 'SEDGradualFusionHead'
    assert m.text_adapter == dict(
        type='ContentDependentTransfer',
        embed_dims=640,
        num_heads=8,
        per_template=True,
        normalize_output=True)
    (rc, ) = m.aux_losses
    assert rc.type == 'RepresentationCompensationLoss'
    assert rc.loss_weight == 0.1 and rc.scales == (1, 2, 4)
    assert rc.preprocess == 'relu' and rc.width_before_resize
    assert rc.teacher_mode == 'eval'
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert keys.backbone.lr_mult == 0.1
    assert cfg.optim_wrapper.clip_grad.max_norm == 0.01


@pytest.mark.parametrize('rel', sorted(RUNS))
def test_trains_on_sample_data_with_one_command(rel, shared_data, tmp_path):
    (tmp_path / 'data').symlink_to(shared_data)
    work = tmp_path / 'work'
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable,
        str(REPO / 'tools/train.py'),
        str(REPO / 'configs' / rel), '--work-dir',
        str(work), '--cfg-options', *RUNS[rel], *SHORT
    ],
                          cwd=tmp_path,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    bce = [float(x) for x in re.findall(r'loss_bce: ([0-9.]+)', log)]
    assert len(bce) == 2, log[-2000:]
    rc = [float(x) for x in re.findall(r'loss_rc: ([0-9.e-]+)', log)]
    assert len(rc) == (2 if '-rc' in rel else 0), log[-2000:]
    assert all(v >= 0 for v in rc)
    state = torch.load(work / 'iter_2.pth', weights_only=True)['state_dict']
    # the frozen teacher is not saved: one copy of the image tower
    assert not any('teacher' in k for k in state)
    stem = [
        k for k in state
        if k.endswith(('conv1.weight',
                       'stem.0.weight')) and k.startswith('backbone.')
    ]
    assert len(stem) == 1, stem
