"""Representation Compensation (RC) loss of MAFT+ (Jiao et al., ECCV 2024).
"""
import copy
from typing import TYPE_CHECKING, Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ..layers.pooled_summary import pooled_summary

if TYPE_CHECKING:  # no import cycle at run time
    from dcp_mm.structures import CLIPImageFeatures

TEACHER_MODES = ('eval', 'train')


@MODELS.register_module()
class RepresentationCompensationLoss(nn.Module):
    """Keep a fine-tuned CLIP image encoder close to the original one.

    Ported from the official MAFT+ code, github.com/jiaosiyu1999/MAFT-Plus
    (MIT licence): ``maft/modeling/maft/representation_compensation.py``
    (``Representation_Compensation`` with its defaults ``sl1`` / ``relu`` /
    scales [1, 2, 4]) and its use in ``maft/maft_plus.py`` (a frozen copy
    ``backbone_t`` of the CLIP image encoder, weight ``rc_weights: 0.1``)::

        a = ReLU(student features),  b = ReLU(teacher features)
        loss = loss_weight * SmoothL1(POD(a), POD(b))   (beta 1, mean)

    POD is :func:`~dcp_mm.models.layers.pooled_summary.pooled_summary`.
    The compared features are ``CLIPImageFeatures.last_feats``: the raw
    output of the last layer before any head, (B, C, h, w) (MAFT+ compares
    the ConvNeXt stage-4 output after ``norm_pre``; for a ViT the last
    block's patch tokens).

    The teacher: :meth:`bind_backbone` (called by the segmentor right after
    building its backbone, which then holds the initial CLIP weights) keeps
    a frozen deep copy of the backbone. It is NOT a registered submodule:
    it is absent from ``state_dict()`` and ``parameters()`` (checkpoints
    stay the size of the model; a resumed run rebuilds it from the CLIP
    weights), and follows the model's ``.to()`` / ``.cuda()`` / ``.half()``
    through ``_apply``. It runs under ``no_grad`` in training only (the
    segmentor calls this loss from ``loss()``), so inference costs nothing.

    Teacher mode: the official teacher stays in train mode, so its DropPath
    (stochastic depth up to 0.1 in ConvNeXt-L) makes the target slightly
    random; ``teacher_mode='eval'`` (default) gives the deterministic
    original CLIP features, which is what the loss means to preserve;
    ``'train'`` reproduces the official behaviour.

    Args:
        loss_weight: multiplier (MAFT+: 0.1).
        scales: POD scales (MAFT+: 1, 2, 4).
        width_before_resize: the official POD kernel rule for non-square
            maps (see ``pooled_summary``); False = the ideal rule.
        preprocess: ``'relu'`` (official), ``'square'`` (``x ** 2``,
            PLOP's ``pow``) or ``'none'``.
        teacher_mode: ``'eval'`` or ``'train'``.
        loss_name: key of the loss (must start with ``loss_``).

    Shapes:
        inputs: (B, 3, H, W) normalised images (the teacher's input).
        feats: the student's ``CLIPImageFeatures`` with ``last_feats``
            (B, C, h, w).
        returns: ``{loss_name: scalar}`` (float32, >= 0).

    Raises:
        ValueError: bad arguments; features without ``last_feats``; student
            and teacher shapes differ.
        RuntimeError: forward before :meth:`bind_backbone`.
    """

    def __init__(self,
                 *,
                 loss_weight: float = 0.1,
                 scales: Sequence[int] = (1, 2, 4),
                 width_before_resize: bool = True,
                 preprocess: str = 'relu',
                 teacher_mode: str = 'eval',
                 loss_name: str = 'loss_rc') -> None:
        super().__init__()
        if teacher_mode not in TEACHER_MODES:
            raise ValueError(f'teacher_mode must be one of {TEACHER_MODES}, '
                             f'got {teacher_mode!r}')
        if preprocess not in ('relu', 'square', 'none'):
            raise ValueError("preprocess must be 'relu', 'square' or 'none', "
                             f'got {preprocess!r}')
        if not loss_name.startswith('loss_'):
            raise ValueError(f"loss_name must start with 'loss_', got "
                             f'{loss_name!r}')
        if loss_weight < 0:
            raise ValueError(f'loss_weight must be >= 0, got {loss_weight}')
        scales = tuple(scales)
        if not scales or any(
                isinstance(s, bool) or not isinstance(s, int) or s < 1
                for s in scales):
            raise ValueError(f'scales must be positive ints, got {scales!r}')
        self.loss_weight = loss_weight
        self.scales = scales
        self.width_before_resize = width_before_resize
        self.preprocess = preprocess
        self.teacher_mode = teacher_mode
        self.loss_name = loss_name
        # kept out of nn.Module's registries: not in state_dict/parameters
        object.__setattr__(self, '_teacher', None)

    @property
    def teacher(self) -> Optional[nn.Module]:
        """The frozen copy of the image encoder (None before binding)."""
        return self._teacher

    def bind_backbone(self, backbone: nn.Module) -> None:
        """Keep a frozen copy of ``backbone`` (its current weights)."""
        teacher = copy.deepcopy(backbone)
        teacher.requires_grad_(False)
        teacher.train(self.teacher_mode == 'train')
        object.__setattr__(self, '_teacher', teacher)

    def _apply(self, fn, *args, **kwargs) -> 'RepresentationCompensationLoss':
        """Move / cast the hidden teacher with the model."""
        super()._apply(fn, *args, **kwargs)
        if self._teacher is not None:
            self._teacher._apply(fn, *args, **kwargs)
        return self

    def _prepare(self, x: Tensor) -> Tensor:
        if self.preprocess == 'relu':
            return x.clamp(min=0.0)
        if self.preprocess == 'square':
            return x * x
        return x

    def compensation(self, student: Tensor, teacher: Tensor) -> Tensor:
        """Unweighted loss between (B, C, h, w) maps, float32 scalar."""
        if student.shape != teacher.shape:
            raise ValueError(f'student features {tuple(student.shape)} and '
                             f'teacher features {tuple(teacher.shape)} differ')
        with torch.autocast(device_type=student.device.type, enabled=False):
            a = pooled_summary(
                self._prepare(student.float()), self.scales,
                self.width_before_resize)
            b = pooled_summary(
                self._prepare(teacher.float()), self.scales,
                self.width_before_resize)
            return F.smooth_l1_loss(a, b, beta=1.0)

    def forward(self, inputs: Tensor,
                feats: 'CLIPImageFeatures') -> Dict[str, Tensor]:
        if self._teacher is None:
            raise RuntimeError(
                'RepresentationCompensationLoss has no teacher: the '
                'segmentor must call bind_backbone(backbone) after building '
                'its backbone (model.aux_losses of OpenVocabEncoderDecoder).')
        student = getattr(feats, 'last_feats', None)
        if student is None:
            raise ValueError(
                'the backbone features have no last_feats (the last layer '
                'output, (B, C, h, w)): use CLIPViTBackbone or '
                'CLIPConvNeXtBackbone.')
        self._teacher.train(self.teacher_mode == 'train')
        with torch.no_grad():
            target = self._teacher(inputs).last_feats
        loss = self.compensation(student, target)
        return {self.loss_name: self.loss_weight * loss}
