"""DPSeg's visual prompt encoder with a cached bank of prompt embeddings."""
import copy
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from dcp_mm.structures import VisualPrompts
from ..utils.arg_checks import check_positive_ints
from ..utils.fingerprint import CachedWeightsMixin
from ..utils.vocabulary import check_vocabulary

CLIP_MEAN = (122.7709383, 116.7460125, 104.09373615)
CLIP_STD = (68.5005327, 66.6321579, 70.3231630)


@MODELS.register_module()
class VisualPromptBank(CachedWeightsMixin, BaseModule):
    """Frozen CLIP image embeddings of every category's visual prompts.

    DPSeg (Zhao et al., CVPR 2025), Sec. "visual prompt encoder": a frozen
    CLIP image encoder embeds K x M prompt images into V (K, M, D) and
    multi-scale features V_j; the decoder uses V_j globally average-pooled.
    Reconstruction choices (the paper's text was not available):

    * the encoder is a frozen copy of the segmentor's CLIP image tower
      (``encoder``, filled in by :class:`DPSegEncoderDecoder` from
      ``model.backbone`` with ``finetune='frozen'``); V is its CLIP image
      embedding (L2-normalised), V_j the global average of every stage
      (ConvNeXt res2..res5; ViT: the ``out_indices`` blocks);
    * a prompt is a masked crop: the bounding box of its region, pixels
      outside the region set to the CLIP mean colour (0 after
      normalisation), squashed to ``image_size``;
    * prompts come from ``source`` (registered:
      :class:`ImageFolderPromptSource`, :class:`ExemplarCropPromptSource`);
      a category without any prompt falls back to text only, and the number
      of such categories is logged (WARNING) when a vocabulary is built.

    Cache: like the text embeddings, in memory (LRU of 8 vocabularies) and
    optionally on disk (``cache_dir``), keyed by the vocabulary, the
    source's fingerprint, M, the image size and a SHA-1 of the encoder's
    weights. ``num_image_forwards`` counts encoder passes.

    Args:
        source: prompt source config.
        encoder: CLIP image tower config (``CLIPConvNeXtBackbone`` /
            ``CLIPViTBackbone``); its ``pretrained`` must be set by the
            owner (the segmentor injects ``model.pretrained``).
        num_prompts: M, prompt slots per category.
        image_size: (h, w) of the encoded prompts (multiples of the
            encoder's stride).
        cache_dir: optional directory of the disk cache.
        chunk_size: prompts per encoder pass.
        mean, std: RGB normalisation of source images (CLIP's, 0-255).

    Raises:
        ValueError: bad sizes, a missing source or encoder.
    """

    cache_prefix = 'visual_prompts'
    """File name prefix of the disk cache."""

    def __init__(self,
                 *,
                 source: dict,
                 encoder: dict,
                 num_prompts: int = 4,
                 image_size: Tuple[int, int] = (320, 320),
                 cache_dir: Optional[str] = None,
                 chunk_size: int = 32,
                 mean: Sequence[float] = CLIP_MEAN,
                 std: Sequence[float] = CLIP_STD,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not isinstance(source, dict) or not isinstance(encoder, dict):
            raise ValueError('VisualPromptBank needs source and encoder '
                             'configs (dicts)')
        check_positive_ints(num_prompts=num_prompts, chunk_size=chunk_size)
        if len(tuple(image_size)) != 2:
            raise ValueError(f'image_size must be (h, w), got {image_size!r}')
        check_positive_ints(
            image_h=int(image_size[0]), image_w=int(image_size[1]))
        encoder = dict(encoder, finetune='frozen')
        self.source = MODELS.build(copy.deepcopy(source))
        self.encoder = MODELS.build(encoder)
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.num_prompts = num_prompts
        self.image_size = tuple(int(s) for s in image_size)
        self.cache_dir = cache_dir
        self.chunk_size = chunk_size
        self.register_buffer(
            'mean', torch.tensor(mean).view(3, 1, 1), persistent=False)
        self.register_buffer(
            'std', torch.tensor(std).view(3, 1, 1), persistent=False)
        self.num_image_forwards = 0
        self.last_num_text_only = 0
        self._memory: 'OrderedDict[tuple, VisualPrompts]' = OrderedDict()
        self._fingerprint = (None, '')

    def train(self, mode: bool = True) -> 'VisualPromptBank':
        """The encoder stays in eval mode (frozen)."""
        super().train(mode)
        self.encoder.eval()
        return self

    @property
    def embed_dims(self) -> int:
        """D of V."""
        return self.encoder.embed_dims

    # ---------------------------------------------------------------- cache
    def _fingerprinted_module(self) -> nn.Module:
        return self.encoder

    def cache_key(self, names: Sequence[str]) -> tuple:
        """(vocabulary, source, M, image size, encoder weights)."""
        return (tuple(names), type(self.source).__name__,
                self.source.fingerprint(names), self.num_prompts,
                self.image_size, self.weights_fingerprint())

    # ------------------------------------------------------------- encoding
    @property
    def device(self) -> torch.device:
        return self.mean.device

    def prepare(self, image: Tensor, mask: Tensor) -> Tensor:
        """Masked crop of a normalised image, squashed to ``image_size``.

        Args:
            image: (3, H, W) normalised image.
            mask: (H, W) bool region (not empty).

        Returns:
            (3, h, w) with zeros (the mean colour) outside the region.
        """
        if mask.shape != image.shape[-2:] or not bool(mask.any()):
            raise ValueError(f'mask {tuple(mask.shape)} must be a non-empty '
                             f'(H, W) region of the image '
                             f'{tuple(image.shape)}')
        ys, xs = torch.nonzero(mask, as_tuple=True)
        y0, y1 = int(ys.min()), int(ys.max()) + 1
        x0, x1 = int(xs.min()), int(xs.max()) + 1
        crop = image[:, y0:y1, x0:x1] * mask[y0:y1, x0:x1].to(image.dtype)
        return F.interpolate(
            crop[None], self.image_size, mode='bilinear',
            align_corners=False)[0]

    def _from_array(self, image: np.ndarray, mask: np.ndarray) -> Tensor:
        """(h, w, 3) uint8 RGB + (h, w) bool -> (3, *image_size)."""
        img = torch.from_numpy(np.ascontiguousarray(image)).to(self.device)
        # (h, w, 3) -> (3, h, w)
        img = (img.permute(2, 0, 1).float() - self.mean) / self.std
        return self.prepare(img, torch.from_numpy(mask).to(self.device))

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tuple[Tensor, List[Tensor]]:
        """Run the frozen encoder on prepared prompts.

        Args:
            images: (N, 3, h, w) normalised prompt images.

        Returns:
            V (N, D) L2-normalised and [V_j (N, C_j)] pooled stage features.
        """
        embeds: List[Tensor] = []
        stages: List[List[Tensor]] = []
        was_training = self.encoder.training
        self.encoder.eval()
        for start in range(0, images.shape[0], self.chunk_size):
            feats = self.encoder(images[start:start + self.chunk_size])
            self.num_image_forwards += 1
            embeds.append(F.normalize(feats.cls_embed.float(), dim=-1))
            # (N, C_j, h_j, w_j) -> (N, C_j)
            stages.append(
                [f.float().mean(dim=(2, 3)) for f in feats.inter_feats])
        self.encoder.train(was_training)
        return torch.cat(embeds), [torch.cat(s) for s in zip(*stages)]

    def encode_masked(self, images: Tensor,
                      masks: Tensor) -> Tuple[Tensor, List[Tensor]]:
        """Masked crops of normalised images (test-time refinement).

        Args:
            images: (N, 3, H, W) normalised images (the model's input).
            masks: (N, H, W) bool regions, none empty.

        Returns:
            as :meth:`encode`.
        """
        batch = torch.stack(
            [self.prepare(i, m) for i, m in zip(images, masks)])
        return self.encode(batch)

    def _build(self, names: List[str]) -> VisualPrompts:
        crops = self.source(names, self.num_prompts)
        if len(crops) != len(names):
            raise ValueError(f'the prompt source returned {len(crops)} lists '
                             f'for {len(names)} names')
        t, m = len(names), self.num_prompts
        slots = [(k, j) for k, c in enumerate(crops)
                 for j in range(min(len(c), m))]
        valid = torch.zeros(t, m, dtype=torch.bool)
        if slots:
            batch = torch.stack(
                [self._from_array(*crops[k][j]) for k, j in slots])
            v, vj = self.encode(batch)
        else:
            with torch.no_grad():
                probe = self.encoder(
                    torch.zeros(1, 3, *self.image_size, device=self.device))
            v = probe.cls_embed.new_zeros(0, probe.cls_embed.shape[-1])
            vj = [f.new_zeros(0, f.shape[1]) for f in probe.inter_feats]
        embeds = v.new_zeros(t, m, v.shape[-1]).cpu()
        stage_embeds = [s.new_zeros(t, m, s.shape[-1]).cpu() for s in vj]
        if slots:
            k_idx = torch.tensor([k for k, _ in slots])
            j_idx = torch.tensor([j for _, j in slots])
            valid[k_idx, j_idx] = True
            embeds[k_idx, j_idx] = v.cpu()
            for dst, src in zip(stage_embeds, vj):
                dst[k_idx, j_idx] = src.cpu()
        missing = int((~valid.any(dim=1)).sum())
        if missing:
            print_log(
                f'VisualPromptBank: {missing} of {t} categories have no '
                f'visual prompt from {type(self.source).__name__}; they '
                'use their text embeddings only',
                logger='current',
                level=30)
        return VisualPrompts(embeds, stage_embeds, valid)

    def forward(self, class_names: Sequence[str]) -> VisualPrompts:
        """Visual prompts of a vocabulary (cached).

        Args:
            class_names: T category names.

        Returns:
            :class:`VisualPrompts` with embeds (T, M, D) L2-normalised,
            stage_embeds [(T, M, C_j)], valid (T, M), on the bank's device.
            ``last_num_text_only`` holds the count of categories without a
            prompt.
        """
        names = check_vocabulary(class_names, 'class_names')
        key = self.cache_key(names)
        hit = self._memory.get(key)
        saved = self._load_disk(key) if hit is None else None
        if saved is not None:
            hit = VisualPrompts(saved['embeds'], list(saved['stage_embeds']),
                                saved['valid'])
        if hit is None:
            hit = self._build(names)
            self._save_disk(
                key,
                embeds=hit.embeds,
                stage_embeds=hit.stage_embeds,
                valid=hit.valid)
        self._memory[key] = hit
        self._memory.move_to_end(key)
        while len(self._memory) > 8:
            self._memory.popitem(last=False)
        self.last_num_text_only = int((~hit.has_prompt).sum())
        return hit.to(self.device)
