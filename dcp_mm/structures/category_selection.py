"""The K of T categories kept per image, and the operations on them."""
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
from torch import Tensor


@dataclass
class CategorySelection:
    """The K of T categories kept for each image (DCS, pruning or all).

    Attributes:
        indices: (B, K) long, vocabulary indices of the kept categories,
            ascending per image; padded entries repeat a valid index.
        valid: (B, K) bool, False for padding (images keep different K).
        cls_logits: (B, T) image-level classification logits
            ``lambda * cos(f_c, E)`` (DCP-CLIP Eq. 1 before the softmax),
            or None.
    """
    indices: Tensor
    valid: Tensor
    cls_logits: Optional[Tensor] = None

    @property
    def num_selected(self) -> Tensor:
        """(B,) long, K_b per image."""
        return self.valid.sum(dim=1)

    def _index_or_spare(self, num_classes: int) -> Tensor:
        """(B, K) indices with padding sent to the spare slot T."""
        return torch.where(self.valid, self.indices,
                           torch.full_like(self.indices, num_classes))

    def scatter(self, values: Tensor, num_classes: int, fill: float) -> Tensor:
        """Selected values (B, K, ...) -> (B, T, ...) over the vocabulary.

        Categories that were not selected get ``fill``; padded entries
        are dropped (they write to a spare slot T that is cut off).

        Raises:
            ValueError: ``values`` is not (B, K, ...).
        """
        if tuple(values.shape[:2]) != tuple(self.indices.shape):
            raise ValueError(f'values {tuple(values.shape)} do not match the '
                             f'selection {tuple(self.indices.shape)}')
        b, k = self.indices.shape
        rest = values.shape[2:]
        full = values.new_full((b, num_classes + 1, *rest), fill)
        index = self._index_or_spare(num_classes)
        # (B, K) -> (B, K, ...) broadcast over the trailing dims
        index = index.reshape(b, k, *([1] * len(rest))).expand_as(values)
        full.scatter_(1, index, values)
        return full[:, :num_classes]

    def mask(self, num_classes: int) -> Tensor:
        """(B, T) bool, True for the selected categories of each image."""
        b = self.indices.shape[0]
        out = self.indices.new_zeros((b, num_classes + 1), dtype=torch.bool)
        out.scatter_(1, self._index_or_spare(num_classes), True)
        return out[:, :num_classes]

    def gather(self, text_embeds: Tensor) -> Tensor:
        """(T, ...) per-category tensor -> (B, K, ...) of the selected."""
        return text_embeds[self.indices]

    @classmethod
    def from_index_sets(
            cls,
            selected: Sequence[Tensor],
            cls_logits: Optional[Tensor] = None) -> 'CategorySelection':
        """Pack per-image index sets of different sizes into a batch.

        Args:
            selected: B tensors of vocabulary indices, (K_b,) long, each
                non-empty (duplicates are removed).
            cls_logits: (B, T) logits to carry along, or None.

        Returns:
            indices (B, K_max) ascending per image, padded by repeating
            the image's first index, and the validity mask.

        Raises:
            ValueError: an image selected no category.
        """
        sets = [torch.unique(s) for s in selected]  # sorted
        if any(s.numel() == 0 for s in sets):
            raise ValueError('an image selected no category')
        k_max = max(int(s.numel()) for s in sets)
        indices = torch.stack(
            [torch.cat([s, s[:1].expand(k_max - s.numel())]) for s in sets])
        valid = torch.stack(
            [torch.arange(k_max, device=s.device) < s.numel() for s in sets])
        return cls(indices, valid, cls_logits)

    @classmethod
    def all_categories(
            cls,
            batch_size: int,
            num_classes: int,
            device: torch.device,
            cls_logits: Optional[Tensor] = None) -> 'CategorySelection':
        """Every one of the T categories for each of the B images."""
        indices = torch.arange(
            num_classes, device=device).expand(batch_size, num_classes)
        return cls(indices, torch.ones_like(indices, dtype=torch.bool),
                   cls_logits)

    def with_categories(self,
                        categories: Sequence[Tensor]) -> 'CategorySelection':
        """Add per-image categories (B tensors of vocabulary indices) to
        the selection (oracle mode: the ground-truth categories)."""
        sets = [
            torch.cat([self.indices[i][self.valid[i]],
                       c.to(self.indices)]) for i, c in enumerate(categories)
        ]
        return self.from_index_sets(sets, self.cls_logits)

    def with_negatives(self, negatives: Union[int, str],
                       num_classes: int) -> 'CategorySelection':
        """Add training negatives from the whole vocabulary.

        Args:
            negatives: per image, the number of categories drawn uniformly
                (torch's global RNG) from those it has not selected; 0
                returns the selection unchanged; ``'all'``: every one of the
                T categories (CAT-Seg's training, which scores the full
                vocabulary).
            num_classes: T.

        Raises:
            ValueError: ``negatives`` is neither ``'all'`` nor an int >= 0.
        """
        check_negatives(negatives)
        if negatives == 'all':
            return self.all_categories(self.indices.shape[0], num_classes,
                                       self.indices.device, self.cls_logits)
        if negatives == 0:
            return self
        mask = self.mask(num_classes)  # (B, T)
        extra = []
        for row in mask:
            rest = torch.nonzero(~row).flatten()
            pick = torch.randperm(rest.numel())[:negatives]
            extra.append(rest[pick.to(rest.device)])
        return self.with_categories(extra)

    def union(self) -> Tensor:
        """(U,) long, the sorted union of the valid indices of the batch.
        """
        return torch.unique(self.indices[self.valid])


def pad_selections(selected: Sequence[Tensor],
                   cls_logits: Optional[Tensor] = None) -> CategorySelection:
    """:meth:`CategorySelection.from_index_sets` (kept for callers)."""
    return CategorySelection.from_index_sets(selected, cls_logits)


def check_negatives(negatives: Union[int, str]) -> None:
    """Raise ValueError unless ``negatives`` is ``'all'`` or an int >= 0
    (``train_cfg.negatives`` of the open-vocabulary segmentor)."""
    if negatives == 'all' or (isinstance(negatives, int)
                              and not isinstance(negatives, bool)
                              and negatives >= 0):
        return
    raise ValueError("train_cfg.negatives must be 'all' or an int >= 0 (the "
                     'random extra categories per training image), got '
                     f'{negatives!r}')
