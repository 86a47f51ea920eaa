"""Tag Validation (TV), DCP-CLIP Sec. III-D, Eq. 17 (inference only)."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor

from ..utils.arg_checks import check_positive_ints


@MODELS.register_module()
class DCPTagValidator(BaseModule):
    """Re-check the regions predicted as unseen categories.

    For every category c present in an image's prediction: a seen category
    (in the training vocabulary) is kept. For an unseen one, the dense CLIP
    embeddings are average-pooled over c's region (the pixel mask resized to
    the patch grid by area interpolation, used as weights), the pooled,
    L2-normalised embedding is scored against all T text embeddings, and if
    c is not among the ``top_k`` best categories the region is relabelled
    with the top-1 category (SCAN-like re-classification, Eq. 17). A region
    whose mask covers less than ``min_area`` patch cells is kept. TV has no
    parameters and is a pure function of its inputs.

    Args:
        top_k: k of Eq. 17 (the paper does not print it). Default 5.
        min_area: minimum region size in patch cells (float mass of the
            resized mask) for a region to be re-checked.

    Shapes:
        pred: (B, H, W) long labels in [0, T).
        dense_embeds: (B, D, h, w) CLIP dense embeddings of the whole image.
        text_embeds: (T, D) L2-normalised (template-averaged).
        seen: (T,) bool, True for seen categories.
        returns: new labels (B, H, W) and a (B, T) long tensor ``relabel``
        with the category each one was relabelled to (-1 if unchanged).
    """

    def __init__(self,
                 *,
                 top_k: int = 5,
                 min_area: float = 1.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_positive_ints(top_k=top_k)
        if min_area < 0:
            raise ValueError(f'min_area must be >= 0, got {min_area}')
        self.top_k = top_k
        self.min_area = min_area

    @torch.no_grad()
    def forward(self, pred: Tensor, dense_embeds: Tensor, text_embeds: Tensor,
                seen: Tensor) -> Tuple[Tensor, Tensor]:
        b, t = pred.shape[0], text_embeds.shape[0]
        if seen.shape != (t, ):
            raise ValueError(f'seen must be ({t},), got {tuple(seen.shape)}')
        if dense_embeds.shape[0] != b:
            raise ValueError('pred and dense_embeds have different batch '
                             f'sizes {b} and {dense_embeds.shape[0]}')
        h, w = dense_embeds.shape[-2:]
        text = F.normalize(text_embeds.float(), dim=-1)
        out = pred.clone()
        relabel = torch.full((b, t), -1, dtype=torch.long, device=pred.device)
        seen = seen.to(pred.device)
        for i in range(b):
            for c in torch.unique(pred[i]).long().tolist():
                if c < 0 or c >= t or seen[c]:
                    continue
                region = (pred[i] == c)
                # (H, W) -> (1, 1, h, w): fraction of each cell in the region
                weight = F.interpolate(
                    region[None, None].float(), (h, w), mode='area')[0, 0]
                mass = weight.sum()
                if mass < self.min_area:
                    continue
                pooled = (dense_embeds[i].float() * weight).sum((1, 2)) / mass
                scores = F.normalize(pooled, dim=0) @ text.t()
                top = scores.topk(min(self.top_k, t)).indices
                if c in top.tolist():
                    continue
                new = int(top[0])
                out[i][region] = new
                relabel[i, c] = new
        return out, relabel

    def validate_samples(self, results: List[SegDataSample],
                         dense_embeds: Tensor, text_embeds: Tensor,
                         seen: Tensor,
                         vocabulary: Sequence[str]) -> List[SegDataSample]:
        """Apply TV to the ``pred_sem_seg`` of segmentor results, in place.

        The entry point for segmentors (dcp_mm's ``OpenVocabEncoderDecoder``
        and the SAN project): each sample's ``pred_sem_seg`` (1, H, W) is
        replaced by TV's output and its metainfo ``tv_relabelled`` maps the
        relabelled category names to their new names.

        Args:
            results: B SegDataSamples with ``pred_sem_seg`` (1, H, W).
            dense_embeds: (B, D, h, w) dense CLIP embeddings.
            text_embeds: (T, D) L2-normalised text embeddings.
            seen: (T,) bool, True for seen categories.
            vocabulary: the T category names.

        Returns:
            ``results``, modified in place.

        Raises:
            ValueError: ``len(vocabulary)`` differs from T, or the shape
                errors of :meth:`forward`.
        """
        if len(vocabulary) != text_embeds.shape[0]:
            raise ValueError(f'{len(vocabulary)} category names for '
                             f'{text_embeds.shape[0]} text embeddings')
        for i, ds in enumerate(results):
            pred = ds.pred_sem_seg.data  # (1, H, W)
            new, relabel = self(pred, dense_embeds[i:i + 1], text_embeds, seen)
            ds.pred_sem_seg.data = new
            changed = {
                vocabulary[c]: vocabulary[int(n)]
                for c, n in enumerate(relabel[0].tolist()) if n >= 0
            }
            ds.set_metainfo(dict(tv_relabelled=changed))
        return results
