"""CLIP text encoder: class names x prompt templates -> text embeddings."""
from collections import OrderedDict
from typing import List, Optional, Sequence

import open_clip
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from dcp_mm.structures import TextSpec
from ..clip.builder import (FINETUNE_MODES, apply_finetune, build_clip_model,
                            split_qkv_projections, tokenizer_name)
from ..utils.arg_checks import check_positive_ints
from ..utils.fingerprint import CachedWeightsMixin
from ..utils.prompt_templates import TemplatesLike, resolve_templates
from ..utils.vocabulary import check_vocabulary, split_synonyms

SYNONYM_MODES = ('first', 'average', 'max')


class CLIPTextTower(nn.Module):
    """The text half of an open_clip ``CLIP`` (same parameter names).

    Holds ``token_embedding``, ``positional_embedding``, ``transformer``,
    ``ln_final``, ``text_projection`` and the causal ``attn_mask`` buffer.
    """

    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        if clip.text_pool_type != 'argmax' or clip.attn_mask is None:
            raise ValueError('only CLIP text towers with a causal mask and '
                             'EOT (argmax) pooling are supported')
        self.token_embedding = clip.token_embedding
        self.positional_embedding = clip.positional_embedding
        self.transformer = clip.transformer
        self.ln_final = clip.ln_final
        self.text_projection = clip.text_projection
        self.register_buffer('attn_mask', clip.attn_mask, persistent=False)

    @property
    def context_length(self) -> int:
        return self.positional_embedding.shape[0]

    def forward(self, tokens: Tensor) -> Tensor:
        """(M, L) token ids, L <= context length -> (M, D), not normalised.

        Running on the first L tokens with the positional embedding and the
        causal mask sliced to L is exact: under the causal mask a token only
        attends to earlier ones, so the EOT output never sees the padding.
        """
        m, length = tokens.shape
        x = self.token_embedding(tokens)  # (M, L, C_t)
        x = x + self.positional_embedding[:length].to(x.dtype)
        mask = self.attn_mask[:length, :length]
        x = self.transformer(x, attn_mask=mask)
        x = self.ln_final(x)
        x = x[torch.arange(m, device=x.device), tokens.argmax(dim=-1)]
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(x)
        return x @ self.text_projection  # (M, D)


@MODELS.register_module()
class OpenCLIPTextEncoder(CachedWeightsMixin, BaseModule):
    """Embed a vocabulary with the open_clip CLIP text tower.

    Every class name is put into P templates; the prompt embedding is taken
    at the EOT token, projected, L2-normalised (CLIP / CAT-Seg).
    Synonyms (``'bed, couch'``): ``'first'`` embeds the first synonym only
    (CAT-Seg); ``'average'`` averages the normalised embeddings of all
    synonyms per template and renormalises (SED). ``'max'`` (MAFT+,
    github.com/jiaosiyu1999/MAFT-Plus ``maft/maft_plus.py``: templates
    averaged per synonym, then a max over the synonyms' logits) returns one
    embedding per synonym instead of per template: (T, S, D), S the largest
    number of synonyms in the vocabulary, each slot the renormalised
    template average of one synonym; classes with fewer synonyms repeat
    their first synonym (a max is unchanged by repeats). The max itself
    needs the image: the neck takes it over the cost volume
    (``DCPTextGuidedAlignNeck(synonym_max=True)``), so ``num_templates``
    (the cost channels per class) is 1 in this mode.

    Prompts are tokenised to the full context (77) and run on the shortest
    prefix holding every EOT of a chunk of 256 prompts (exact, several times
    faster). Results are cached (in memory, LRU of 8, and in ``cache_dir``
    if given) under (tokenizer, vocabulary, templates, synonym mode, SHA-1
    of the tower weights); the weight hash is recomputed when a parameter's
    version counter, storage or dtype changes (optimizer steps,
    ``load_state_dict``). In-place edits through ``param.data`` bypass the
    version counter: call :meth:`clear_cache` after those. ``forward``
    always returns these detached embeddings of the current weights.

    Fine-tuning (``finetune != 'frozen'``): gradients flow only through
    :meth:`encode_selected`, which embeds the U categories that reach the
    decoder (selected + ground truth) with gradient; the segmentor writes
    them over the cached rows (``text.index_copy(0, idx,
    encode_selected(names, idx))``). The values equal a full-vocabulary
    forward with gradient, and so do the gradients of every loss that only
    reads those U rows, at a fraction of the activation memory
    (U x P instead of T x P prompts). CAT-Seg fine-tunes the text q/v the
    same way on all T categories it aggregates (T <= 256).

    Args:
        model_name: open_clip architecture or ``'dcp-tiny'``.
        pretrained: CLIP weights (see ``build_clip_model``).
        templates: ``'imagenet80'``, ``'single'`` or a list of strings with
            one ``'{}'`` each.
        synonyms: ``'first'``, ``'average'`` or ``'max'``.
        finetune: ``'frozen'``, ``'attention'`` (q/v projections, official
            CAT-Seg), ``'attention+pos'`` or ``'full'``.
        cache_dir: optional directory for the disk cache.
        quick_gelu: MLP activation; None -> QuickGELU (OpenAI CLIP).
        chunk_size: prompts per tower forward pass.
        init_cfg: mmengine init config.

    Attributes:
        text: :class:`CLIPTextTower`. num_templates: P. embed_dims: D.
        num_text_forwards: tower forward passes run so far.

    Raises:
        ValueError: bad templates / synonyms / finetune / chunk_size.
    """

    cache_prefix = 'text_embeds'
    """File name prefix of the disk cache."""

    def __init__(self,
                 *,
                 model_name: str = 'ViT-B-16',
                 pretrained: Optional[str] = None,
                 templates: TemplatesLike = 'imagenet80',
                 synonyms: str = 'first',
                 finetune: str = 'frozen',
                 cache_dir: Optional[str] = None,
                 quick_gelu: Optional[bool] = None,
                 chunk_size: int = 256,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if synonyms not in SYNONYM_MODES:
            raise ValueError(f'synonyms must be one of {SYNONYM_MODES}, got '
                             f'{synonyms!r}')
        if finetune not in FINETUNE_MODES:
            raise ValueError(f'finetune must be one of {FINETUNE_MODES}, '
                             f'got {finetune!r}')
        check_positive_ints(chunk_size=chunk_size)
        self.templates = resolve_templates(templates)
        self.synonyms = synonyms
        self.finetune = finetune
        self.cache_dir = cache_dir
        self.chunk_size = chunk_size
        self.model_name = model_name
        self.text = CLIPTextTower(
            build_clip_model(model_name, pretrained, quick_gelu))
        split_qkv_projections(self.text)
        self.trainable_names = apply_finetune(self.text, finetune)
        self._tokenizer_name = tokenizer_name(model_name)
        self.tokenizer = open_clip.get_tokenizer(self._tokenizer_name)
        self.num_text_forwards = 0
        self._memory: 'OrderedDict[tuple, Tensor]' = OrderedDict()
        self._fingerprint = (None, '')  # (parameter stamp, sha1 hex)

    @property
    def num_templates(self) -> int:
        """P, cost-volume channels per class: the number of prompt
        templates, or 1 with ``synonyms='max'`` (synonym axis max-reduced
        by the neck)."""
        return 1 if self.synonyms == 'max' else len(self.templates)

    @property
    def embed_dims(self) -> int:
        """D, the joint embedding dim."""
        proj = self.text.text_projection
        return proj.out_features if isinstance(proj, nn.Linear) \
            else proj.shape[1]

    @property
    def text_spec(self) -> TextSpec:
        """What :meth:`forward` returns: (T, P, D) embeddings."""
        return TextSpec(f'text_encoder {type(self).__name__}', self.embed_dims,
                        self.num_templates)

    def _fingerprinted_module(self) -> nn.Module:
        return self.text

    @property
    def has_trainable_params(self) -> bool:
        """Whether the text tower has parameters to fine-tune."""
        return any(p.requires_grad for p in self.text.parameters())

    def encode_selected(self, names: Sequence[str], indices: Tensor) -> Tensor:
        """Embed the categories ``indices`` of the vocabulary ``names`` with
        gradient (not cached).

        Args:
            names: the T category names (the vocabulary of ``forward``).
            indices: (U,) long, distinct indices into ``names``.

        Returns:
            (U, P, D) L2-normalised embeddings, in the order of ``indices``,
            equal to ``forward(names)[indices]`` but attached to the graph
            of the trainable tower parameters.

        Raises:
            ValueError: indices not 1-D integer, empty, repeated or outside
                [0, T).
        """
        names = check_vocabulary(names, 'names')
        if indices.dim() != 1 or indices.is_floating_point() or \
                indices.dtype == torch.bool or indices.numel() == 0:
            raise ValueError('indices must be a non-empty 1-D integer tensor '
                             f'of vocabulary indices, got dtype '
                             f'{indices.dtype} shape {tuple(indices.shape)}')
        idx = indices.tolist()
        if min(idx) < 0 or max(idx) >= len(names):
            raise ValueError(f'indices must lie in [0, {len(names)}), got '
                             f'min {min(idx)} max {max(idx)}')
        if len(set(idx)) != len(idx):
            raise ValueError('indices must be distinct (index_copy writes '
                             'each row once); use torch.unique')
        return self._encode([names[i] for i in idx])

    def with_gradient(self, text: Tensor, names: Sequence[str],
                      categories: Sequence[Tensor]) -> Tensor:
        """Replace the rows of ``categories`` in the cached (T, P, D)
        ``text`` by embeddings with gradient (:meth:`encode_selected`), when
        training with a trainable tower and gradients enabled; otherwise
        return ``text`` unchanged. Fine-tuning the text q/v then costs one
        tower pass over the categories that reach the decoder (DCP-CLIP:
        selected + ground truth), not over the vocabulary.

        Args:
            text: (T, P, D) cached embeddings of ``names``.
            names: the T category names.
            categories: tensors of vocabulary indices (repeats allowed).
        """
        if not (self.training and torch.is_grad_enabled()
                and self.has_trainable_params):
            return text
        idx = torch.unique(torch.cat([c.reshape(-1) for c in categories]))
        return text.index_copy(0, idx.to(text.device),
                               self.encode_selected(names, idx))

    def _prompts(self, names: List[str]) -> List[List[str]]:
        """Per class, the synonyms it is embedded with."""
        syns = [split_synonyms(n) for n in names]
        return [s[:1] for s in syns] if self.synonyms == 'first' else syns

    def _encode(self, names: List[str]) -> Tensor:
        """Run the tower: T names -> (T, P, D) L2-normalised."""
        syns = self._prompts(names)
        prompts = [
            t.format(s) for group in syns for s in group
            for t in self.templates
        ]  # (class, synonym, template)
        device = self.text.positional_embedding.device
        outs = []
        for start in range(0, len(prompts), self.chunk_size):
            tokens = self.tokenizer(prompts[start:start + self.chunk_size])
            tokens = tokens.to(device)
            length = int(tokens.argmax(dim=-1).max()) + 1
            outs.append(self.text(tokens[:, :length]))
            self.num_text_forwards += 1
        embeds = F.normalize(torch.cat(outs), dim=-1)  # (M, D)
        p = len(self.templates)
        if self.synonyms == 'max':
            return self._per_synonym(embeds, syns, p)
        per_class, start = [], 0
        for group in syns:
            n = len(group) * p
            # (S_c * P, D) -> (S_c, P, D) -> mean over synonyms (P, D)
            per_class.append(embeds[start:start + n].reshape(
                len(group), p, -1).mean(dim=0))
            start += n
        return F.normalize(torch.stack(per_class), dim=-1)  # (T, P, D)

    @staticmethod
    def _per_synonym(embeds: Tensor, syns: List[List[str]], p: int) -> Tensor:
        """(M, D) prompt embeddings -> (T, S, D) template-averaged,
        renormalised embedding per synonym; short classes repeat their
        first synonym."""
        s_max = max(len(g) for g in syns)
        per_class, start = [], 0
        for group in syns:
            n = len(group) * p
            # (S_c * P, D) -> (S_c, P, D) -> mean over templates (S_c, D)
            syn = F.normalize(
                embeds[start:start + n].reshape(len(group), p, -1).mean(dim=1),
                dim=-1)
            pad = syn[:1].expand(s_max - len(group), -1)
            per_class.append(torch.cat([syn, pad]))  # (S, D)
            start += n
        return torch.stack(per_class)  # (T, S, D)

    def forward(self, class_names: Sequence[str]) -> Tensor:
        """Embed a vocabulary.

        Args:
            class_names: T category names (comma-separated synonyms allowed).

        Returns:
            (T, P, D) L2-normalised text embeddings (dim -1) of the current
            weights, without gradient (see :meth:`encode_selected`); (T, S,
            D) per synonym with ``synonyms='max'``.

        Raises:
            ValueError: empty vocabulary, empty or duplicated names (the
                message lists the duplicates).
            TypeError: a plain string or non-string entries.
        """
        names = check_vocabulary(class_names, 'class_names')
        key = (self._tokenizer_name, tuple(names), tuple(self.templates),
               self.synonyms, self.weights_fingerprint())
        device = self.text.positional_embedding.device
        hit = self._memory.get(key)
        if hit is None:
            saved = self._load_disk(key)
            hit = saved['embeds'] if saved is not None else None
        if hit is None:
            with torch.no_grad():
                hit = self._encode(names).detach()
            self._save_disk(key, embeds=hit.cpu())
        self._memory[key] = hit
        self._memory.move_to_end(key)
        while len(self._memory) > 8:
            self._memory.popitem(last=False)
        # the cached tensor itself (no copy: a 20k x 80-template vocabulary
        # is GBs); callers must not modify it in place
        return hit.to(device)
